package spec

// This file stands for the firewall's Opener (internal/spec/kind_firewall.go,
// helper FW, issue #14) until both land: when they merge, delete this file
// and keep the firewall's definitions, which have this shape.

// Opener is a kind whose resource needs ports open in the host firewall.
type Opener interface{ Openings(h *Host) []Opening }

// Opening is a port a resource needs open: Proto ("tcp"), Port, and the
// hosts or roles (by name) it is open to; none means everyone.
type Opening struct {
	Proto string
	Port  int
	From  []string
}
