package agent

import "tend/internal/spec"

// accountKinds lists the kinds of this family; see registry.
func accountKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{}
}
