package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/site"
	"tend/internal/spec"
)

// webKinds lists the kinds of this family; see registry.
func webKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindSite: {
			build:  with(func(n string, s *spec.Site) (resource.Resource, error) { return site.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Site) (resource.Remover, error) { return site.NewRemoval(n), nil }),
		},
	}
}
