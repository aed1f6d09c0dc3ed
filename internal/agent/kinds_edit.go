package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/edit"
	"tend/internal/spec"
)

// editKinds lists the kinds of this family; see registry.
func editKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindBlock: {
			build: with(func(n string, s *spec.Block) (resource.Resource, error) { return &edit.Block{Name: n, S: s}, nil }),
			remove: removeWith(func(n string, s *spec.Block) (resource.Remover, error) {
				return &edit.BlockRemoval{Block: edit.Block{Name: n, S: s}}, nil
			}),
		},
		spec.KindLine: {
			build: with(func(n string, s *spec.Line) (resource.Resource, error) { return &edit.Line{Name: n, S: s}, nil }),
			remove: removeWith(func(n string, s *spec.Line) (resource.Remover, error) {
				return &edit.LineRemoval{Line: edit.Line{Name: n, S: s}}, nil
			}),
		},
	}
}
