package agent

import (
	"context"

	"tend/internal/resource"
	"tend/internal/resource/firewall"
	"tend/internal/spec"
)

// firewallKinds lists the kinds of this family; see registry.
func firewallKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindFirewall: {
			build:  with(func(n string, s *spec.Firewall) (resource.Resource, error) { return firewall.New(n, s) }),
			remove: removeWith(func(n string, s *spec.Firewall) (resource.Remover, error) { return firewall.NewRemoval(), nil }),
		},
	}
}

// ConfirmFirewall makes a pending firewall change the host's (see
// firewall.Confirm). The controller runs it over a new SSH connection once
// that connection got through the new ruleset.
func ConfirmFirewall(ctx context.Context) error {
	return firewall.Confirm(ctx, firewall.DefaultPaths)
}
