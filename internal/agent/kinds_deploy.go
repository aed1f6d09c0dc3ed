package agent

import "tend/internal/spec"

// deployKinds lists the kinds of this family; see registry.
func deployKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{}
}
