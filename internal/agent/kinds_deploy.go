package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/git"
	"tend/internal/spec"
)

// deployKinds lists the kinds of this family; see registry.
func deployKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindGit: {
			build:  with(func(n string, s *spec.Git) (resource.Resource, error) { return git.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Git) (resource.Remover, error) { return &git.Removal{Dir: n}, nil }),
		},
	}
}
