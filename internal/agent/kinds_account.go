package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/account"
	"tend/internal/resource/authkeys"
	"tend/internal/resource/command"
	"tend/internal/resource/cron"
	resenvdir "tend/internal/resource/envdir"
	"tend/internal/resource/timer"
	"tend/internal/spec"
)

// accountKinds lists the kinds of this family; see registry.
func accountKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindGroup: {build: with(func(n string, s *spec.Group) (resource.Resource, error) { return account.NewGroup(n, s) })},
		spec.KindUser:  {build: with(func(n string, s *spec.User) (resource.Resource, error) { return account.NewUser(n, s) })},
		spec.KindAuthorizedKeys: {build: with(func(n string, s *spec.AuthorizedKeys) (resource.Resource, error) {
			return authkeys.New(n, s)
		})},
		spec.KindTimer: {
			build:  with(func(n string, s *spec.Timer) (resource.Resource, error) { return timer.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Timer) (resource.Remover, error) { return &timer.Removal{Name: n}, nil }),
		},
		spec.KindCron:    {build: with(func(n string, s *spec.Cron) (resource.Resource, error) { return cron.New(n, s) })},
		spec.KindCommand: {build: with(func(n string, s *spec.Command) (resource.Resource, error) { return command.New(n, s) })},
		spec.KindEnvdir:  {build: with(func(n string, s *spec.Envdir) (resource.Resource, error) { return resenvdir.New(n, s) })},
	}
}
