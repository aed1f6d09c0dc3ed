package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/tunnel"
	"tend/internal/spec"
)

// tunnelKinds lists the kinds of this family; see registry.
func tunnelKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindTunnel: {
			build:  with(func(n string, s *spec.Tunnel) (resource.Resource, error) { return tunnel.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Tunnel) (resource.Remover, error) { return &tunnel.Removal{Name: n}, nil }),
		},
	}
}
