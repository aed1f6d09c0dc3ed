package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/git"
	"tend/internal/spec"
)

// deployKinds lists the kinds of this family; see registry.
func deployKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{
		spec.KindGit: with(func(n string, s *spec.Git) (resource.Resource, error) { return git.New(n, s) }),
	}
}
