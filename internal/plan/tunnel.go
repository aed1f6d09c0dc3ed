package plan

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/secret"
	"tend/internal/spec"
	"tend/internal/tunnel"
)

// hasTunnels reports whether a compiled host runs a side of a tunnel.
func hasTunnels(h *spec.Host) bool {
	for _, r := range h.Resources {
		if r.Kind == spec.KindTunnel && r.State != spec.StateAbsent {
			return true
		}
	}
	return false
}

// labTunnels points the tunnel sides of compiled host h at the lab
// hosts standing in for the real ones (a rehearsal with --lab): a server
// listens on its lab address, a client connects to its server's. A server
// outside the selection keeps its declared address.
func labTunnels(h *spec.Host, hosts []inventory.Host) {
	addr := map[string]string{}
	for _, x := range hosts {
		addr[x.Name] = x.SSH.Host
	}
	for _, r := range h.Resources {
		s, ok := r.Spec.(*spec.Tunnel)
		if !ok || addr[s.Server] == "" {
			continue
		}
		port := strconv.Itoa(s.Port)
		switch s.Side {
		case spec.TunnelServer:
			s.Bind = net.JoinHostPort(addr[s.Server], port)
		case spec.TunnelClient:
			s.Connect = net.JoinHostPort(addr[s.Server], port)
		}
	}
}

// TunnelCA returns environment e's tunnel CA, from the secret
// tunnel.SecretName: in secrets when they hold it, else decrypted from
// the environment's secrets file with the identities getenv names.
func TunnelCA(dir string, e *spec.Environment, secrets map[string]string, getenv func(string) string) (*tunnel.CA, error) {
	v, ok := secrets[tunnel.SecretName]
	if !ok {
		path, err := secret.Path(dir, e.Name)
		if err != nil {
			return nil, err
		}
		noCA := hint.Wrap(fmt.Errorf("environment %s declares tunnels, but its secrets hold no %s, the tunnels' certificate authority", e.Name, tunnel.SecretName),
			"create it once: tend tunnel ca init "+e.Name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, noCA
		}
		f, err := secret.Load(path)
		if err != nil {
			return nil, err
		}
		if !f.Has(tunnel.SecretName) {
			return nil, noCA
		}
		if getenv == nil {
			getenv = os.Getenv
		}
		ids, err := secret.Identities(getenv)
		if err != nil {
			return nil, err
		}
		vals, err := f.Decrypt(ids)
		if err != nil {
			return nil, err
		}
		v = vals[tunnel.SecretName].Reveal()
	}
	seed, err := tunnel.ParseSeed(v)
	if err != nil {
		return nil, fmt.Errorf("secret %s of environment %s: %w", tunnel.SecretName, e.Name, err)
	}
	return tunnel.NewCA(seed, e.Name)
}

// IssueTunnels gives each tunnel side of compiled host h its certificate
// and key for the period holding now, from ca; the resource is then
// sensitive (its key shows only as a sensitive change).
func IssueTunnels(h *spec.Host, ca *tunnel.CA, now time.Time) error {
	for _, r := range h.Resources {
		s, ok := r.Spec.(*spec.Tunnel)
		if !ok || r.State == spec.StateAbsent {
			continue
		}
		host := ""
		if s.Side == spec.TunnelClient {
			host = h.Name
		}
		is, err := ca.Issue(tunnel.Identity(s.Env, r.Name, s.Side, host), now)
		if err != nil {
			return fmt.Errorf("%s: %w", r.ID, err)
		}
		s.CA, s.Cert, s.Key = ca.PEM, is.Cert, is.Key
		r.Sensitive = true
	}
	return nil
}
