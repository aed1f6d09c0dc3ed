package agent

import (
	"maps"
	"slices"

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
		spec.KindGroup: {
			build: with(func(n string, s *spec.Group) (resource.Resource, error) { return account.NewGroup(n, s) }),
			remove: removeWith(func(n string, s *spec.Group) (resource.Remover, error) {
				return &account.GroupRemoval{Name: n}, nil
			}),
		},
		spec.KindUser: {
			build: with(func(n string, s *spec.User) (resource.Resource, error) { return account.NewUser(n, s) }),
			remove: removeWith(func(n string, s *spec.User) (resource.Remover, error) {
				return account.NewUserRemoval(n), nil
			}),
		},
		spec.KindAuthorizedKeys: {
			build: with(func(n string, s *spec.AuthorizedKeys) (resource.Resource, error) { return authkeys.New(n, s) }),
			remove: removeWith(func(n string, s *spec.AuthorizedKeys) (resource.Remover, error) {
				return authkeys.NewRemoval(n, s.Keys), nil
			}),
		},
		spec.KindTimer: {
			build:  with(func(n string, s *spec.Timer) (resource.Resource, error) { return timer.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Timer) (resource.Remover, error) { return &timer.Removal{Name: n}, nil }),
		},
		spec.KindCron: {
			build: with(func(n string, s *spec.Cron) (resource.Resource, error) { return cron.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Cron) (resource.Remover, error) {
				return &cron.Removal{Name: n}, nil
			}),
		},
		spec.KindCommand: {
			build: with(func(n string, s *spec.Command) (resource.Resource, error) { return command.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Command) (resource.Remover, error) {
				return command.Removal{}, nil
			}),
		},
		spec.KindEnvdir: {
			build: with(func(n string, s *spec.Envdir) (resource.Resource, error) { return resenvdir.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Envdir) (resource.Remover, error) {
				return resenvdir.NewRemoval(n, slices.Collect(maps.Keys(s.Vars))), nil
			}),
		},
	}
}
