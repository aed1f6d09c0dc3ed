package agent

import "tend/internal/spec"

// systemKinds lists the kinds of this family; see registry.
func systemKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{}
}
