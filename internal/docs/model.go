package docs

import (
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"

	"tend/internal/spec"
)

// model is an environment's hosts compiled without secrets, and what the
// page needs to name things: which host owns which address.
type model struct {
	repo  *spec.Repo
	env   *spec.Environment
	hosts []*spec.Host      // in declaration order
	owner map[string]string // address (normalised) -> host name
}

func newModel(r *spec.Repo, e *spec.Environment, hosts []*spec.Host) *model {
	m := &model{repo: r, env: e, hosts: hosts, owner: map[string]string{}}
	for _, h := range e.Hosts {
		for _, a := range append([]string{h.Address}, sortedValues(h.Addresses)...) {
			if k := normAddr(a); k != "" {
				if _, taken := m.owner[k]; !taken {
					m.owner[k] = h.Name
				}
			}
		}
	}
	return m
}

// normAddr returns an IP address in its canonical form, or a DNS name in
// lower case.
func normAddr(a string) string {
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(a)
}

// hostOf returns the host of the environment that has address a, or "".
func (m *model) hostOf(a string) string { return m.owner[normAddr(a)] }

// hostOfPort returns the host owning the address of ADDRESS:PORT, and
// the port.
func (m *model) hostOfPort(ap string) (host, port string) {
	a, p, err := net.SplitHostPort(ap)
	if err != nil {
		return "", ""
	}
	return m.hostOf(a), p
}

// sourceHost returns the host a firewall source stands for: a single
// address of a host of the environment.
func (m *model) sourceHost(s spec.Source) string {
	if s.Prefix.IsValid() && s.Prefix.IsSingleIP() {
		return m.hostOf(s.Prefix.Addr().String())
	}
	return ""
}

// sourceText names a firewall source for a reader: a host by its name
// (with the address), else the address or network.
func (m *model) sourceText(s spec.Source) string {
	if s.Any {
		return "anyone"
	}
	if h := m.sourceHost(s); h != "" {
		return h + " (" + s.String() + ")"
	}
	return s.String()
}

// present returns the host's resources of kind k that are not to be
// removed, in convergence order.
func present(h *spec.Host, k spec.Kind) []*spec.Resource {
	var out []*spec.Resource
	for _, r := range h.Resources {
		if r.Kind == k && r.State != spec.StateAbsent {
			out = append(out, r)
		}
	}
	return out
}

// secretsUsed returns the names of the secrets whose placeholder appears
// in the compiled resource: which secrets it holds, never their values
// (the hosts were compiled without them).
func secretsUsed(r *spec.Resource, refs []spec.SecretRef) []string {
	data, err := json.Marshal(r.Spec)
	if err != nil {
		return nil
	}
	text := r.Name + "\x00" + string(data)
	var out []string
	for _, s := range refs {
		if strings.Contains(text, spec.SecretPlaceholder(s.Secret)) && !slices.Contains(out, s.Secret) {
			out = append(out, s.Secret)
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// storeName is a store URL without its query (endpoint, region): short
// enough for a table or a diagram, and what tells stores apart.
func storeName(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}
