package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"tend/internal/spec"
)

// Table is the nftables table tend owns; no other table is touched.
const Table = "inet tend"

// reset replaces tend's table in the transaction of one nft -f: "table"
// creates it when absent, so that "delete" always succeeds, and what
// follows defines it anew. nft applies a file in one transaction: the host
// has the old table or the new one, never none, and never half of one.
const reset = "table inet tend\ndelete table inet tend\n"

// removal is the file that deletes tend's table and nothing else.
const removal = "# tend: remove tend's firewall (table inet tend)\n" + reset

// Essential ICMP: errors that path MTU discovery and connection setup need,
// and ping; for IPv6 also neighbour discovery and multicast listener
// reports, without which IPv6 stops working on the link.
const (
	icmp4 = "icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept"
	icmp6 = "icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, mld-listener-report, mld2-listener-report } accept"
)

// Render returns the nftables file of a compiled firewall: tend's table,
// replaced in one transaction. Sources must be resolved (the compiler
// replaced host: and role: by addresses).
//
// nft 1.0.6 needs a newline or ';' before each closing brace: every
// statement here ends its line.
func Render(s *spec.Firewall) (string, error) {
	var b strings.Builder
	b.WriteString("# tend: the host firewall (firewall:tend), loaded with nft -f.\n")
	b.WriteString("# It replaces table inet tend in one transaction and leaves other tables alone.\n")
	b.WriteString(reset)
	b.WriteString("table inet tend {\n")

	var input, forward, pre, post []string
	input = append(input, "ct state established,related accept", "ct state invalid drop", `iif "lo" accept`, icmp4, icmp6)
	for _, e := range s.Allow {
		r, err := spec.ParseRule(e)
		if err != nil {
			return "", fmt.Errorf("allow %q: %w", e, err)
		}
		lines, err := match(r.From, fmt.Sprintf("%s dport %s accept%s", r.Proto, ports(r.Ports), comment(r.Comment)))
		if err != nil {
			return "", fmt.Errorf("allow %q: %w", e, err)
		}
		input = append(input, lines...)
	}

	forward = append(forward, "ct state established,related accept", "ct state invalid drop")
	if len(s.Forward) > 0 {
		// Only connections this host's prerouting rewrote, which passed
		// the source allowlist there.
		forward = append(forward, `ct status dnat accept comment "forwarded ports"`)
	}
	for _, e := range s.Forward {
		f, err := spec.ParseForward(e)
		if err != nil {
			return "", fmt.Errorf("forward %q: %w", e, err)
		}
		to := f.To.Prefix.Addr()
		if !f.To.Prefix.IsSingleIP() {
			return "", fmt.Errorf("forward %q: the target is not resolved to an address", e)
		}
		fam, target := "ip", fmt.Sprintf("%s:%d", to, f.ToPort)
		if to.Is6() {
			fam, target = "ip6", fmt.Sprintf("[%s]:%d", to, f.ToPort)
		}
		// fib daddr type local: only connections to this host itself,
		// not ones it routes on to others.
		var srcs []spec.Source
		for _, src := range f.From {
			if src.Any || src.Prefix.Addr().Is6() == to.Is6() {
				srcs = append(srcs, src)
			}
		}
		if len(f.From) > 0 && len(srcs) == 0 {
			continue // no source of the target's family
		}
		stmt := fmt.Sprintf("fib daddr type local %s dport %d dnat %s to %s%s", f.Proto, f.Port, fam, target, comment(f.Comment))
		lines, err := match(srcs, stmt)
		if err != nil {
			return "", fmt.Errorf("forward %q: %w", e, err)
		}
		if len(srcs) == 0 || anySource(srcs) {
			lines = []string{"meta nfproto ipv" + map[bool]string{false: "4", true: "6"}[to.Is6()] + " " + stmt}
		}
		pre = append(pre, lines...)
		if !f.KeepSource {
			// ct status dnat: only what was forwarded here is
			// masqueraded; connections the target opens are not.
			post = append(post, fmt.Sprintf("ct status dnat %s daddr %s %s dport %d masquerade%s", fam, to, f.Proto, f.ToPort, comment(f.Comment)))
		}
	}
	for _, n := range s.NAT {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			return "", fmt.Errorf("nat %q: %w", n, err)
		}
		forward = append(forward, fmt.Sprintf(`ip saddr %s accept comment "nat %s"`, p, p))
		post = append(post, fmt.Sprintf(`ip saddr %s ip daddr != %s masquerade comment "nat %s"`, p, p, p))
	}

	chain(&b, "input", "type filter hook input priority filter; policy "+s.InputPolicy+";", input)
	chain(&b, "forward", "type filter hook forward priority filter; policy "+s.ForwardPolicy+";", forward)
	if len(pre) > 0 {
		chain(&b, "prerouting", "type nat hook prerouting priority dstnat; policy accept;", pre)
	}
	if len(post) > 0 {
		chain(&b, "postrouting", "type nat hook postrouting priority srcnat; policy accept;", post)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func chain(b *strings.Builder, name, hook string, rules []string) {
	fmt.Fprintf(b, "\tchain %s {\n\t\t%s\n", name, hook)
	for _, r := range rules {
		fmt.Fprintf(b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
}

func anySource(ss []spec.Source) bool {
	for _, s := range ss {
		if s.Any {
			return true
		}
	}
	return false
}

// match returns stmt preceded by the source match of each family present
// in from: one line for IPv4 sources, one for IPv6; stmt alone for any.
func match(from []spec.Source, stmt string) ([]string, error) {
	if len(from) == 0 || anySource(from) {
		return []string{stmt}, nil
	}
	var v4, v6 []string
	for i, s := range from {
		if !s.Prefix.IsValid() {
			return nil, fmt.Errorf("source %s is not resolved to addresses", s)
		}
		if covered(s.Prefix, from, i) {
			continue // nft refuses overlapping elements in a set
		}
		if s.Prefix.Addr().Is4() {
			v4 = append(v4, s.String())
		} else {
			v6 = append(v6, s.String())
		}
	}
	var out []string
	if len(v4) > 0 {
		out = append(out, "ip saddr { "+strings.Join(v4, ", ")+" } "+stmt)
	}
	if len(v6) > 0 {
		out = append(out, "ip6 saddr { "+strings.Join(v6, ", ")+" } "+stmt)
	}
	return out, nil
}

// covered reports whether p is inside another source of from (the first
// of equal ones is kept).
func covered(p netip.Prefix, from []spec.Source, i int) bool {
	for j, o := range from {
		if j == i || !o.Prefix.IsValid() || !o.Prefix.Overlaps(p) || o.Prefix.Bits() > p.Bits() {
			continue
		}
		if o.Prefix.Bits() < p.Bits() || j < i {
			return true
		}
	}
	return false
}

func ports(ps []spec.PortRange) string {
	if len(ps) == 1 {
		return ps[0].String()
	}
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

func comment(c string) string {
	if c == "" {
		return ""
	}
	c = strings.NewReplacer(`"`, "", `\`, "", "\n", " ").Replace(c)
	return ` comment "` + c + `"`
}
