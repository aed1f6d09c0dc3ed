package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/cert"
	"tend/internal/spec"
)

// certKinds lists the kinds of this family; see registry.
func certKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindCertificate: {
			build:  with(func(n string, s *spec.Certificate) (resource.Resource, error) { return cert.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Certificate) (resource.Remover, error) { return &cert.Removal{Name: n}, nil }),
		},
	}
}
