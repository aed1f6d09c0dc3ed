package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/apt"
	"tend/internal/resource/service"
	"tend/internal/resource/swap"
	"tend/internal/resource/sysctl"
	"tend/internal/spec"
)

// systemKinds lists the kinds of this family; see registry.
func systemKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindPackage: {
			build:  with(func(n string, s *spec.Package) (resource.Resource, error) { return apt.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Package) (resource.Remover, error) { return apt.NewRemoval(n, s), nil }),
		},
		spec.KindService: {
			build:  with(func(n string, s *spec.Service) (resource.Resource, error) { return service.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Service) (resource.Remover, error) { return service.NewRemoval(n) }),
		},
		spec.KindSysctl: {
			build:  with(func(n string, s *spec.Sysctl) (resource.Resource, error) { return sysctl.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Sysctl) (resource.Remover, error) { return sysctl.NewRemoval(n, s.Value), nil }),
		},
		spec.KindSwap: {
			build:  with(func(n string, s *spec.Swap) (resource.Resource, error) { return swap.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Swap) (resource.Remover, error) { return swap.NewRemoval(n, s) }),
		},
	}
}
