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
func systemKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{
		spec.KindPackage: with(func(n string, s *spec.Package) (resource.Resource, error) { return apt.New(n, s) }),
		spec.KindService: with(func(n string, s *spec.Service) (resource.Resource, error) { return service.New(n, s) }),
		spec.KindSysctl:  with(func(n string, s *spec.Sysctl) (resource.Resource, error) { return sysctl.New(n, s) }),
		spec.KindSwap:    with(func(n string, s *spec.Swap) (resource.Resource, error) { return swap.New(n, s) }),
	}
}
