package agent

import "tend/internal/spec"

// postgresKinds lists the kinds of this family; see registry.
func postgresKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{}
}
