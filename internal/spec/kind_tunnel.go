// Resource kinds of one family: the network: mutual-TLS tunnels.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
)

// The kinds of this family.
const (
	KindTunnel Kind = "tunnel"
)

// Tunnel is a link from a TCP service on the host whose role declares it
// (the server side) to the hosts named in Clients (the client side), where
// it listens on Listen: a clear-text service carried between hosts in
// mutual TLS 1.3. Name: the link's name; it names the link's identity
// (tend://ENV/link/NAME/...), its unit and files on both sides.
//
// Compile gives the declaring host the server side and each client host
// the client side of the same link, with the fields below the line filled;
// the controller then adds the link's certificates (internal/tunnel).
type Tunnel struct {
	To      string   `yaml:"to" json:"to"`           // server side: the service, ADDRESS:PORT as seen from the server host, e.g. 127.0.0.1:27017
	Port    int      `yaml:"port" json:"port"`       // server side: the TCP port the tunnel listens on, on the server host's address
	Clients []string `yaml:"clients" json:"clients"` // the hosts (or roles: all their hosts) that reach the service
	Listen  string   `yaml:"listen" json:"listen"`   // client side: ADDRESS:PORT, on loopback or a private address only
	// Stunnel names the hosts of the link (the server host, client hosts)
	// whose side stunnel4 runs, during a migration: tend runs no daemon
	// there for this link but writes that side's credentials for stunnel
	// (and signals Debian's stunnel@NAME.service when they change); its
	// other sides accept that host's certificate as their peer's, and the
	// server's port stays open to its clients.
	Stunnel []string `yaml:"stunnel" json:"-"`

	// Filled per host by Compile, never declared.
	Side    string   `yaml:"-" json:"side"`              // TunnelServer or TunnelClient
	Env     string   `yaml:"-" json:"env"`               // the environment: part of the link's identity
	Server  string   `yaml:"-" json:"server"`            // the server host's name
	Bind    string   `yaml:"-" json:"bind,omitempty"`    // server: the address and port it listens on
	Connect string   `yaml:"-" json:"connect,omitempty"` // client: the server's address and port
	Peers   []string `yaml:"-" json:"peers"`             // server: the client hosts; client: its own name
	// StunnelSide: stunnel4 runs this side (the host is in Stunnel).
	StunnelSide bool `yaml:"-" json:"stunnel_side,omitempty"`

	// Filled by the controller from the environment's tunnel CA (PEM);
	// Key is the side's private key, a secret.
	CA   string `yaml:"-" json:"ca,omitempty"`
	Cert string `yaml:"-" json:"cert,omitempty"`
	Key  string `yaml:"-" json:"key,omitempty"`
}

// The sides of a tunnel.
const (
	TunnelServer = "server"
	TunnelClient = "client"
)

func (*Tunnel) Kind() Kind { return KindTunnel }

func (s *Tunnel) defaults() {}

var tunnelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,47}$`)

func (s *Tunnel) check(c *checker) {
	c.name(tunnelRE, "lowercase letters, digits and '-' (at most 48): it names a systemd unit and the link's certificate identity")
	if c.required("to", s.To) && c.lit(s.To) {
		if host, port, err := net.SplitHostPort(s.To); err != nil || host == "" || !validPort(port) {
			c.errf("to", "to %q must be ADDRESS:PORT of the service, as the server host reaches it, e.g. 127.0.0.1:27017", s.To)
		}
	}
	switch {
	case c.has("port") && !c.decodeErr && (s.Port < 1 || s.Port > 65535):
		c.errf("port", "port %d is out of range 1-65535", s.Port)
	case !c.has("port") && !c.lax():
		c.errf("", "port is required: the TCP port the tunnel listens on, on the server host's address")
	}
	if len(s.Clients) == 0 && !c.lax() {
		c.errf("", "clients is required: the hosts or roles that reach the service through the tunnel")
	}
	if c.required("listen", s.Listen) && c.lit(s.Listen) {
		if msg := ListenProblem(s.Listen); msg != "" {
			c.errf("listen", "%s", msg)
		}
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// cgnat is the shared address space of RFC 6598 (100.64.0.0/10), used by
// carrier NAT and by overlay networks such as Tailscale: not reachable
// from the Internet.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ListenProblem says why a tunnel's client listen address is refused, or
// "" when it is loopback or private. A client side listens in clear text:
// on a public or wildcard address, anyone who reaches the host reaches the
// service behind the tunnel, without a certificate (a tunnel client left
// on a public address is how a MongoDB was wiped for ransom).
func ListenProblem(v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil || !validPort(port) {
		return "listen " + strconv.Quote(v) + " must be ADDRESS:PORT, e.g. 127.0.0.1:27017"
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return "listen " + strconv.Quote(v) + ": the address must be an IP address (a name could resolve to a public one), e.g. 127.0.0.1:27017"
	}
	a = a.Unmap()
	const why = ": the client side of a tunnel serves in clear text, without a certificate, so anyone who can reach that address reaches the service behind the tunnel (an exposed tunnel client is how a MongoDB was wiped for ransom); listen on loopback (127.0.0.1, ::1) or a private address (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)"
	switch {
	case a.IsUnspecified():
		return "listen " + strconv.Quote(v) + " is a wildcard address: it listens on every address of the host, public ones included" + why
	case a.IsLoopback() || a.IsPrivate() || cgnat.Contains(a):
		return ""
	default:
		return "listen " + strconv.Quote(v) + " is not a loopback or private address" + why
	}
}

// Openings implements Opener: the server side's port is open to the
// link's client hosts only; the client side needs nothing opened.
func (s *Tunnel) Openings(h *Host) []Opening {
	if s.Side != TunnelServer || s.Port == 0 {
		return nil
	}
	from := make([]string, 0, len(s.Peers))
	for _, p := range s.Peers {
		from = append(from, "host:"+p)
	}
	if len(from) == 0 {
		return nil // a link with no client opens nothing (empty From is everyone)
	}
	return []Opening{{Proto: "tcp", Port: s.Port, From: from, What: "tunnel server"}}
}

// tunnelPeers resolves a tunnel's clients (host names, or role names
// standing for every host with the role) to host names of the
// environment, in declaration order, without the server itself.
func (c *compiler) tunnelPeers(r *Resource, s *Tunnel, server string, errs *ErrorList) []string {
	var out []string
	add := func(n string) {
		for _, x := range out {
			if x == n {
				return
			}
		}
		out = append(out, n)
	}
	for i, name := range s.Clients {
		pos := r.fieldPos("clients[" + strconv.Itoa(i) + "]")
		if h := c.env.Host(name); h != nil {
			if h.Name == server {
				errs.add(pos, "tunnel %s: clients: %s is the server host itself: a tunnel links two hosts (%s)", r.Name, name, c.where())
				continue
			}
			add(h.Name)
			continue
		}
		if c.repo.Roles[name] == nil {
			errs.add(pos, "tunnel %s: clients: %q is neither a host of environment %s nor a role (%s)", r.Name, name, c.env.Name, c.where())
			continue
		}
		for _, h := range c.env.Hosts {
			for _, role := range c.repo.expand(h.Roles) {
				if role == name && h.Name != server {
					add(h.Name)
				}
			}
		}
	}
	return out
}

// serverSide fills a tunnel declared by the compiled host: its server side.
func (c *compiler) serverSide(r *Resource) {
	s := r.Spec.(*Tunnel)
	if r.State == StateAbsent {
		return
	}
	s.Side, s.Env, s.Server = TunnelServer, c.env.Name, c.host.Name
	s.Bind = bindAddress(c.host.Address, s.Port)
	s.Peers = c.tunnelPeers(r, s, c.host.Name, &c.errs)
	if len(s.Peers) == 0 && len(s.Clients) > 0 {
		c.errs.add(r.fieldPos("clients"), "tunnel %s: clients name no host of environment %s other than the server (%s)", r.Name, c.env.Name, c.where())
	}
	for i, name := range s.Stunnel {
		if name != c.host.Name && !slices.Contains(s.Peers, name) {
			c.errs.add(r.fieldPos("stunnel["+strconv.Itoa(i)+"]"), "tunnel %s: stunnel: %q is neither the server host %s nor one of the link's client hosts %v: stunnel names the hosts where stunnel4 runs this link's side (%s)",
				r.Name, name, c.host.Name, s.Peers, c.where())
		}
	}
	s.StunnelSide = slices.Contains(s.Stunnel, c.host.Name)
}

// bindAddress is where a server side listens: the host's address when it
// is an IP address, every address otherwise (a DNS name).
func bindAddress(addr string, port int) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a, uint16(port)).String()
	}
	return ":" + strconv.Itoa(port)
}

// clientSides returns the client side of every tunnel that another host
// of the environment serves to the compiled host, each rendered with its
// server's variables. Errors in those tunnels are the server's, reported
// when it is compiled.
func (c *compiler) clientSides(secrets map[string]string) []*Resource {
	var out []*Resource
	for _, h := range c.env.Hosts {
		if h.Name == c.host.Name {
			continue
		}
		var peer *compiler
		for _, role := range c.repo.expand(h.Roles) {
			for _, d := range c.repo.Roles[role].Resources {
				if d.Kind != KindTunnel || d.State == StateAbsent {
					continue
				}
				if peer == nil {
					peer = c.repo.newCompiler(c.env, h, c.repo.expand(h.Roles), secrets)
				}
				if !peer.roleHolds(c.repo.Roles[role]) {
					break
				}
				for _, r := range peer.declare(d) {
					s := r.Spec.(*Tunnel)
					var ignore ErrorList
					peers := peer.tunnelPeers(r, s, h.Name, &ignore)
					for _, p := range peers {
						if p != c.host.Name {
							continue
						}
						s.Side, s.Env, s.Server = TunnelClient, c.env.Name, h.Name
						s.Connect = net.JoinHostPort(h.Address, strconv.Itoa(s.Port))
						s.Peers = []string{c.host.Name}
						s.StunnelSide = slices.Contains(s.Stunnel, c.host.Name)
						s.To = "" // the service's address is the server's business
						// What the server's resource requires or notifies is
						// on the server.
						r.Requires, r.Notify = nil, nil
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}
