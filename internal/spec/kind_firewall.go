// Resource kinds of one family: the network edge: the host firewall.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KindFirewall is the host firewall (see docs/firewall.md).
const KindFirewall Kind = "firewall"

// FirewallName is the name of the one firewall resource a host's firewall
// declarations compile into, after the nftables table it owns (inet tend).
// A fixed name keeps the resource's identity when declarations are added,
// renamed or moved between roles, so that the ruleset is replaced, never
// deleted and made again.
const FirewallName = "tend"

// Firewall is a host's firewall: default policies and what is allowed,
// forwarded and masqueraded. Several declarations on one host (from
// several roles) merge into one ruleset, firewall:tend. Name: a label.
//
// Entries are one line each, so that a rule reads as it is meant:
//
//	allow:   tcp 5432 from role:web, 10.0.0.0/8
//	forward: tcp 2525 to host:mail:25 from 198.51.100.7
//	nat:     10.10.0.0/24
//
// Sources are addresses, networks, host:NAME or role:NAME (all the
// addresses of the host, or of every host with the role, IPv4 and IPv6),
// or any. Once compiled, names are replaced by addresses, and the entries
// the other declarations need (tend's own SSH port, Opener) are added.
type Firewall struct {
	InputPolicy   string   `yaml:"input_policy" json:"input_policy"`     // drop (default) or accept
	ForwardPolicy string   `yaml:"forward_policy" json:"forward_policy"` // drop (default) or accept
	Allow         []string `yaml:"allow" json:"allow"`                   // PROTO PORTS [from SOURCE, ...]
	Forward       []string `yaml:"forward" json:"forward"`               // PROTO PORT to TARGET[:PORT] [from SOURCE, ...] [keep-source]
	NAT           []string `yaml:"nat" json:"nat"`                       // private networks masqueraded on their way out
	// SSHFrom restricts tend's own SSH port to these sources (default:
	// any). The port is always opened: nobody writes it by hand.
	SSHFrom []string `yaml:"ssh_from" json:"ssh_from"`
	// RevertAfter is the lockout window: the host restores its previous
	// ruleset unless tend reaches it over a new SSH connection within it.
	RevertAfter string `yaml:"revert_after" json:"revert_after"` // default 60s
	// AllowLockout lets a ruleset through the plan-time check that it
	// keeps tend's SSH connection open (the revert still guards it).
	AllowLockout bool `yaml:"allow_lockout" json:"allow_lockout"`
}

func (*Firewall) Kind() Kind { return KindFirewall }

func (s *Firewall) defaults() {
	or(&s.InputPolicy, "drop")
	or(&s.ForwardPolicy, "drop")
	or(&s.RevertAfter, "60s")
}

func (s *Firewall) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	c.oneOf("input_policy", s.InputPolicy, "drop", "accept")
	c.oneOf("forward_policy", s.ForwardPolicy, "drop", "accept")
	if c.lit(s.RevertAfter) && s.RevertAfter != "" {
		if d, err := time.ParseDuration(s.RevertAfter); err != nil || d < 5*time.Second || d > time.Hour || d%time.Second != 0 {
			c.errf("revert_after", "revert_after %q must be whole seconds between 5s and 1h, e.g. 60s", s.RevertAfter)
		}
	}
	each := func(field string, list []string, parse func(string) error) {
		for i, e := range list {
			key := fmt.Sprintf("%s[%d]", field, i)
			if !c.lit(e) || !c.line(key, e) {
				continue
			}
			if err := parse(e); err != nil {
				c.errf(key, "%s %q: %v", field, e, err)
			}
		}
	}
	each("allow", s.Allow, func(e string) error { _, err := ParseRule(e); return err })
	each("forward", s.Forward, func(e string) error { _, err := ParseForward(e); return err })
	each("nat", s.NAT, func(e string) error {
		p, err := netip.ParsePrefix(strings.TrimSpace(e))
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("expected an IPv4 network such as 10.10.0.0/24")
		}
		return nil
	})
	each("ssh_from", s.SSHFrom, func(e string) error { _, err := ParseSource(e); return err })
}

// Opening is a port a resource needs open in the host's firewall.
type Opening struct {
	Proto string   // tcp or udp
	Port  int      // 1-65535
	From  []string // sources as in Firewall.Allow (addresses, networks, host:NAME, role:NAME); empty: any
	What  string   // what needs it, shown in the ruleset: "tunnel db"
}

// Opener is a kind whose resource needs ports open in the host firewall.
// The firewall of the host compiles them in, so nobody writes them twice.
// Openings is called on the compiled resource with its compiled host; it
// must not change either.
type Opener interface {
	Openings(h *Host) []Opening
}

// Source is one source of traffic in a firewall entry: a network (an
// address is a network of one), a host or role by name, or any.
type Source struct {
	Prefix netip.Prefix // valid for an address or network
	Host   string       // host:NAME
	Role   string       // role:NAME
	Group  string       // group:NAME, a group of the environment's hosts
	Any    bool
}

func (s Source) String() string {
	switch {
	case s.Any:
		return "any"
	case s.Host != "":
		return "host:" + s.Host
	case s.Role != "":
		return "role:" + s.Role
	case s.Group != "":
		return "group:" + s.Group
	case s.Prefix.IsSingleIP():
		return s.Prefix.Addr().String()
	}
	return s.Prefix.String()
}

var fwNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ParseSource reads one source: any, an address, a network, host:NAME or
// role:NAME.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "any":
		return Source{Any: true}, nil
	case strings.HasPrefix(s, "host:") || strings.HasPrefix(s, "role:") || strings.HasPrefix(s, "group:"):
		kind, name, _ := strings.Cut(s, ":")
		if !fwNameRE.MatchString(name) {
			return Source{}, fmt.Errorf("%q: expected %s:NAME", s, kind)
		}
		switch kind {
		case "host":
			return Source{Host: name}, nil
		case "group":
			return Source{Group: name}, nil
		}
		return Source{Role: name}, nil
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Source{}, fmt.Errorf("%q is not a network such as 10.0.0.0/8", s)
		}
		if p.Masked() != p {
			return Source{}, fmt.Errorf("%q has host bits set: the network is %s", s, p.Masked())
		}
		return Source{Prefix: p}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return Source{}, fmt.Errorf("%q is not an address, a network, host:NAME, role:NAME, group:NAME or any", s)
	}
	a = a.Unmap()
	return Source{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
}

// PortRange is a port or a range of ports.
type PortRange struct{ Lo, Hi uint16 }

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}

func parsePorts(s string) ([]PortRange, error) {
	var out []PortRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("port range %q ends before it starts", part)
			}
		}
		out = append(out, PortRange{a, b})
	}
	return out, nil
}

// Rule is one allow entry: PROTO PORTS [from SOURCE, ...] [# comment].
type Rule struct {
	Proto   string // tcp or udp
	Ports   []PortRange
	From    []Source // empty: any
	Comment string
}

// Allows reports whether the rule lets in a new connection of proto from
// addr to port. Sources must be resolved (no host: or role:).
func (r Rule) Allows(proto string, addr netip.Addr, port uint16) bool {
	if r.Proto != proto {
		return false
	}
	in := false
	for _, p := range r.Ports {
		in = in || p.Lo <= port && port <= p.Hi
	}
	if !in {
		return false
	}
	if len(r.From) == 0 {
		return true
	}
	for _, s := range r.From {
		if s.Any || s.Prefix.IsValid() && s.Prefix.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

func (r Rule) String() string {
	var ports []string
	for _, p := range r.Ports {
		ports = append(ports, p.String())
	}
	s := r.Proto + " " + strings.Join(ports, ",")
	if len(r.From) > 0 {
		s += " from " + joinSources(r.From)
	}
	if r.Comment != "" {
		s += " # " + r.Comment
	}
	return s
}

func joinSources(ss []Source) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.String())
	}
	return strings.Join(out, ", ")
}

// cutComment splits "entry # comment". A comment goes into the ruleset
// as an nftables comment: it may not hold a quote or a backslash.
func cutComment(s string) (string, string, error) {
	body, comment, _ := strings.Cut(s, "#")
	comment = strings.TrimSpace(comment)
	if strings.ContainsAny(comment, "\"\\") || len(comment) > 100 {
		return "", "", fmt.Errorf("a comment is at most 100 characters, without quotes or backslashes")
	}
	return strings.TrimSpace(body), comment, nil
}

func parseProto(s string) (string, error) {
	if s != "tcp" && s != "udp" {
		return "", fmt.Errorf("%q is not a protocol: expected tcp or udp", s)
	}
	return s, nil
}

func parseSources(s string) ([]Source, error) {
	var out []Source
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		src, err := ParseSource(part)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("from names no source")
	}
	return out, nil
}

// ParseRule reads an allow entry: PROTO PORTS [from SOURCE, ...] [# comment],
// e.g. "tcp 80,443", "udp 60000-61000 from 10.0.0.0/8",
// "tcp 5432 from role:web, host:backup".
func ParseRule(s string) (Rule, error) {
	body, comment, err := cutComment(s)
	if err != nil {
		return Rule{}, err
	}
	f := strings.Fields(body)
	if len(f) < 2 || len(f) > 2 && f[2] != "from" || len(f) == 3 {
		return Rule{}, fmt.Errorf("expected PROTO PORTS [from SOURCE, ...], e.g. \"tcp 5432 from role:web\"")
	}
	r := Rule{Comment: comment}
	if r.Proto, err = parseProto(f[0]); err != nil {
		return Rule{}, err
	}
	if r.Ports, err = parsePorts(f[1]); err != nil {
		return Rule{}, err
	}
	if len(f) > 3 {
		if r.From, err = parseSources(strings.Join(f[3:], " ")); err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

// Forwarding is one forward entry: connections to Port on this host from
// the sources are sent on to To:ToPort (DNAT). Unless KeepSource, they are
// masqueraded too, so that the target answers through this host; only
// forwarded connections are: what the target opens itself is left alone.
type Forwarding struct {
	Proto      string
	Port       uint16
	To         Source // an address, or host:NAME
	ToPort     uint16
	From       []Source // empty: any
	KeepSource bool
	Comment    string
}

func (f Forwarding) String() string {
	to := f.To.String()
	if f.To.Prefix.IsValid() && f.To.Prefix.Addr().Is6() {
		to = "[" + to + "]"
	}
	s := fmt.Sprintf("%s %d to %s:%d", f.Proto, f.Port, to, f.ToPort)
	if len(f.From) > 0 {
		s += " from " + joinSources(f.From)
	}
	if f.KeepSource {
		s += " keep-source"
	}
	if f.Comment != "" {
		s += " # " + f.Comment
	}
	return s
}

// ParseForward reads a forward entry:
// PROTO PORT to TARGET[:PORT] [from SOURCE, ...] [keep-source] [# comment],
// where TARGET is an address ([v6] with a port) or host:NAME.
func ParseForward(s string) (Forwarding, error) {
	body, comment, err := cutComment(s)
	if err != nil {
		return Forwarding{}, err
	}
	f := strings.Fields(body)
	fw := Forwarding{Comment: comment}
	if n := len(f); n > 0 && f[n-1] == "keep-source" {
		fw.KeepSource, f = true, f[:n-1]
	}
	if len(f) < 4 || f[2] != "to" || len(f) > 4 && f[4] != "from" || len(f) == 5 {
		return Forwarding{}, fmt.Errorf("expected PROTO PORT to TARGET[:PORT] [from SOURCE, ...] [keep-source], e.g. \"tcp 2525 to host:mail:25 from 10.0.0.0/8\"")
	}
	if fw.Proto, err = parseProto(f[0]); err != nil {
		return Forwarding{}, err
	}
	if fw.Port, err = parsePort(f[1]); err != nil {
		return Forwarding{}, err
	}
	fw.ToPort = fw.Port
	target := f[3]
	switch {
	case strings.HasPrefix(target, "host:"):
		name, port, hasPort := strings.Cut(strings.TrimPrefix(target, "host:"), ":")
		if hasPort {
			if fw.ToPort, err = parsePort(port); err != nil {
				return Forwarding{}, err
			}
		}
		if fw.To, err = ParseSource("host:" + name); err != nil {
			return Forwarding{}, err
		}
	default:
		if ap, err := netip.ParseAddrPort(target); err == nil {
			target, fw.ToPort = ap.Addr().String(), ap.Port()
			if fw.ToPort == 0 {
				return Forwarding{}, fmt.Errorf("target %q: port 0", f[3])
			}
		}
		a, err := netip.ParseAddr(strings.Trim(target, "[]"))
		if err != nil || a.Zone() != "" {
			return Forwarding{}, fmt.Errorf("target %q is not an address, [address]:port or host:NAME[:PORT]", f[3])
		}
		a = a.Unmap()
		fw.To = Source{Prefix: netip.PrefixFrom(a, a.BitLen())}
	}
	if len(f) > 5 {
		if fw.From, err = parseSources(strings.Join(f[5:], " ")); err != nil {
			return Forwarding{}, err
		}
	}
	return fw, nil
}

// firewall merges the host's firewall declarations into one resource,
// firewall:tend, in place of the first: policies (conflicting ones are an
// error), the allow entries with host and role names replaced by their
// addresses, the openings other resources need and tend's own SSH port.
func (c *compiler) firewall(h *Host) []*Resource {
	var decls []*Resource
	first := -1
	for i, r := range h.Resources {
		if r.Kind == KindFirewall {
			decls = append(decls, r)
			if first < 0 {
				first = i
			}
		}
	}
	if len(decls) == 0 {
		return h.Resources
	}
	before := len(c.errs)
	m := &Resource{ID: string(KindFirewall) + ":" + FirewallName, Kind: KindFirewall, Name: FirewallName,
		Role: decls[0].Role, Pos: decls[0].Pos, src: decls[0].src, nodes: decls[0].nodes}
	out := &Firewall{}
	seen := map[string]*Resource{}
	explicit := map[string]*Resource{} // field -> the declaration that set it
	sshFrom := []string(nil)
	absent := 0
	for _, d := range decls {
		if prev := seen[d.ID]; prev != nil {
			c.errs.add(d.Pos, "duplicate resource %s: also declared at %s (%s)", d.ID, prev.Pos, c.where())
			continue
		}
		seen[d.ID] = d
		if d.State == StateAbsent {
			absent++
		}
		for _, r := range d.Requires {
			if !slices.Contains(m.Requires, r) {
				m.Requires = append(m.Requires, r)
			}
		}
		for _, n := range d.Notify {
			if !slices.Contains(m.Notify, n) {
				m.Notify = append(m.Notify, n)
			}
		}
		m.Sensitive = m.Sensitive || d.Sensitive
		s := d.Spec.(*Firewall)
		for _, f := range []struct {
			key       string
			got, want *string
		}{
			{"input_policy", &s.InputPolicy, &out.InputPolicy},
			{"forward_policy", &s.ForwardPolicy, &out.ForwardPolicy},
			{"revert_after", &s.RevertAfter, &out.RevertAfter},
		} {
			if d.nodes[f.key] == nil {
				continue
			}
			if prev := explicit[f.key]; prev != nil && *f.want != *f.got {
				c.errs.add(d.fieldPos(f.key), "firewall %s: %s %s conflicts with %s %s of firewall %s at %s: the firewall declarations of a host merge into one ruleset (%s)",
					d.Name, f.key, *f.got, f.key, *f.want, prev.Name, prev.fieldPos(f.key), c.where())
				continue
			}
			explicit[f.key], *f.want = d, *f.got
		}
		out.AllowLockout = out.AllowLockout || s.AllowLockout
		what := "firewall " + d.Name
		for i, e := range s.Allow {
			r, _ := ParseRule(e) // checked
			if r.Comment == "" {
				r.Comment = what
			}
			from, ok := c.resolve(d, fmt.Sprintf("allow[%d]", i), r.From)
			if !ok || len(r.From) > 0 && len(from) == 0 {
				continue // a role no host has yet allows nobody, not anybody
			}
			r.From = from
			out.Allow = append(out.Allow, r.String())
		}
		for i, e := range s.Forward {
			fw, _ := ParseForward(e)
			if fw.Comment == "" {
				fw.Comment = what
			}
			key := fmt.Sprintf("forward[%d]", i)
			from, ok := c.resolve(d, key, fw.From)
			if !ok || len(from) == 0 && len(fw.From) > 0 {
				continue
			}
			fw.From = from
			targets, ok := c.resolve(d, key, []Source{fw.To})
			if ok && len(targets) == 0 {
				c.errs.add(d.fieldPos(key), "firewall %s: forward: host %s has no IP address in the spec to forward to (%s)", d.Name, fw.To.Host, c.where())
			}
			for _, t := range targets {
				fw.To = t
				out.Forward = append(out.Forward, fw.String())
			}
		}
		out.NAT = append(out.NAT, s.NAT...)
		if d.nodes["ssh_from"] != nil {
			sshFrom = append(sshFrom, s.SSHFrom...)
		}
	}
	if absent > 0 && absent < len(decls) {
		c.errs.add(decls[0].Pos, "firewall: some firewall declarations of the host say state: absent and others declare rules: they merge into one ruleset, say absent on all of them or on none (%s)", c.where())
	}
	or(&out.InputPolicy, "drop")
	or(&out.ForwardPolicy, "drop")
	or(&out.RevertAfter, "60s")
	if absent == 0 {
		c.openings(h, m, out, sshFrom)
		c.forwarding(h, m, out)
	} else {
		m.State = StateAbsent
	}
	m.Spec = out
	if len(c.errs) > before {
		return h.Resources
	}
	var rs []*Resource
	for i, r := range h.Resources {
		switch {
		case i == first:
			rs = append(rs, m)
		case r.Kind != KindFirewall:
			for j, req := range r.Requires {
				if seen[req] != nil {
					r.Requires[j] = m.ID
				}
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// openings adds tend's SSH port and the ports the host's other resources
// need (Opener).
func (c *compiler) openings(h *Host, m *Resource, out *Firewall, sshFrom []string) {
	port := h.SSH.Port
	if port == 0 {
		port = 22
	}
	ops := []Opening{{Proto: "tcp", Port: port, From: sshFrom, What: "tend ssh"}}
	for _, r := range h.Resources {
		if o, ok := r.Spec.(Opener); ok && r.State != StateAbsent {
			ops = append(ops, o.Openings(h)...)
		}
	}
	for _, o := range ops {
		var from []Source
		for _, s := range o.From {
			src, err := ParseSource(s)
			if err != nil {
				c.errs.add(m.Pos, "firewall: %s: source %v (%s)", o.What, err, c.where())
				return
			}
			from = append(from, src)
		}
		resolved, ok := c.resolve(m, "ssh_from", from)
		if !ok || len(from) > 0 && len(resolved) == 0 {
			continue
		}
		r := Rule{Proto: o.Proto, Ports: []PortRange{{uint16(o.Port), uint16(o.Port)}}, From: resolved, Comment: o.What}
		out.Allow = append(out.Allow, r.String())
	}
}

// forwarding checks that a host that forwards or masquerades lets the
// kernel forward: nothing else would, and the failure would be silent.
func (c *compiler) forwarding(h *Host, m *Resource, out *Firewall) {
	need4, need6 := len(out.NAT) > 0, false
	for _, e := range out.Forward {
		f, _ := ParseForward(e)
		if f.To.Prefix.Addr().Is4() {
			need4 = true
		} else {
			need6 = true
		}
	}
	on := map[string]bool{}
	for _, r := range h.Resources {
		if s, ok := r.Spec.(*Sysctl); ok && r.State != StateAbsent && strings.TrimSpace(s.Value) == "1" {
			on[r.Name] = true
		}
	}
	for _, p := range []struct {
		need  bool
		param string
	}{{need4, "net.ipv4.ip_forward"}, {need6, "net.ipv6.conf.all.forwarding"}} {
		if p.need && !on[p.param] {
			c.errs.add(m.Pos, "firewall: forward and nat need the kernel to forward packets: declare - sysctl: %s with value: \"1\" on the host (%s)", p.param, c.where())
		}
	}
}

// resolve replaces host:NAME, role:NAME and group:NAME sources by the
// addresses of the hosts of the environment, IPv4 and IPv6, and drops duplicates. A
// host that does not exist is an error; a role that exists but no host of
// the environment has yields no address; any stays any. ok is false
// after an error.
func (c *compiler) resolve(d *Resource, key string, from []Source) (out []Source, ok bool) {
	ok = true
	add := func(p netip.Prefix) {
		s := Source{Prefix: p}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	hostAddrs := func(hd *HostDecl) {
		var addrs []string
		if a, ok := c.repo.Addresses[hd.Name]; ok {
			// A lab rehearsal: the lab host stands in for this one at its
			// own address, and has none of the declared others.
			addrs = append(addrs, a)
		} else if hd.Address != "" {
			addrs = append(addrs, hd.Address)
		}
		keys := make([]string, 0, len(hd.Addresses))
		for k := range hd.Addresses {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if _, lab := c.repo.Addresses[hd.Name]; !lab {
				addrs = append(addrs, hd.Addresses[k])
			}
		}
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Zone() == "" {
				ip = ip.Unmap()
				add(netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	for _, s := range from {
		switch {
		case s.Any:
			return []Source{{Any: true}}, true
		case s.Host != "":
			hd := c.env.Host(s.Host)
			if hd == nil {
				c.errs.add(d.fieldPos(key), "firewall %s: %s: no host %s in environment %s (%s)", d.Name, key, s.Host, c.env.Name, c.where())
				ok = false
				continue
			}
			hostAddrs(hd)
		case s.Role != "":
			if c.repo.Roles[s.Role] == nil {
				c.errs.add(d.fieldPos(key), "firewall %s: %s: no role %s in the repository (%s)", d.Name, key, s.Role, c.where())
				ok = false
				continue
			}
			for _, hd := range c.env.Hosts {
				if slices.Contains(c.repo.expand(hd.Roles), s.Role) {
					hostAddrs(hd)
				}
			}
		case s.Group != "":
			members, found := c.env.Groups[s.Group]
			if !found {
				c.errs.add(d.fieldPos(key), "firewall %s: %s: no group %s in environment %s (%s)", d.Name, key, s.Group, c.env.Name, c.where())
				ok = false
				continue
			}
			for _, name := range members {
				hostAddrs(c.env.Host(name))
			}
		default:
			add(s.Prefix)
		}
	}
	return out, ok
}
