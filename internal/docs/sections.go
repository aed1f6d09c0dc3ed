package docs

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"tend/internal/spec"
	"tend/internal/tunnel"
)

// webSection lists every site: the names it answers, TLS, and where its
// requests go (upstreams with the hosts they resolve to, a root).
func (m *model) webSection(b *bytes.Buffer) {
	any := false
	for _, h := range m.hosts {
		for _, r := range present(h, spec.KindSite) {
			if !any {
				b.WriteString("\n## Web routes\n")
				any = true
			}
			s := r.Spec.(*spec.Site)
			fmt.Fprintf(b, "\n### site %s on %s\n\n", r.Name, h.Name)
			fmt.Fprintf(b, "- **Names**: %s\n", strings.Join(codes(s.ServerNames), ", "))
			ports := "http " + strconv.Itoa(s.HTTPPort)
			if s.HasTLS() {
				ports += ", https " + strconv.Itoa(s.HTTPSPort) + " (http redirects to https)"
			}
			fmt.Fprintf(b, "- **Listens**: %s on %s\n", ports, strings.Join(codes(s.Listen), ", "))
			switch {
			case s.TLS.Certificate != "":
				fmt.Fprintf(b, "- **TLS**: certificate %s (ACME, renewed by the host)\n", code(s.TLS.Certificate))
			case s.TLS.CertFile != "":
				fmt.Fprintf(b, "- **TLS**: %s, %s\n", code(s.TLS.CertFile), code(s.TLS.KeyFile))
			default:
				b.WriteString("- **TLS**: none\n")
			}
			if len(s.Allow) > 0 {
				fmt.Fprintf(b, "- **Allowed from**: %s (every location; the rest get 403)\n", strings.Join(codes(s.Allow), ", "))
			}
			if s.RateLimit != "" {
				fmt.Fprintf(b, "- **Rate limit**: %s per client\n", code(s.RateLimit))
			}
			b.WriteString("\n| location | goes to |\n|---|---|\n")
			if len(s.Upstreams) > 0 || s.Root != "" {
				fmt.Fprintf(b, "| `/` | %s |\n", m.serves(s, s.Upstreams, s.Root, ""))
			}
			for _, l := range s.Locations {
				fmt.Fprintf(b, "| %s | %s |\n", code(l.Path), m.serves(s, l.Upstreams, l.Root, l.Return))
			}
			for _, rd := range s.Redirects {
				fmt.Fprintf(b, "| %s | redirect %d to %s |\n", code("= "+rd.From), rd.Code, code(rd.To))
			}
		}
	}
}

// serves says where a location's requests go.
func (m *model) serves(s *spec.Site, ups []string, root, ret string) string {
	var parts []string
	if root != "" {
		what := "files in " + code(root)
		if len(ups) > 0 {
			what += ", else (cached)"
		}
		parts = append(parts, what)
	}
	var us []string
	for _, u := range ups {
		t := code(u)
		if rs := s.Resolved[u]; len(rs) > 0 {
			var named []string
			for _, a := range rs {
				if h, _ := m.hostOfPort(a); h != "" {
					named = append(named, h+" "+code(a))
				} else {
					named = append(named, code(a))
				}
			}
			t += " → " + strings.Join(named, ", ")
		} else if h, _ := m.hostOfPort(u); h != "" {
			t += " (" + h + ")"
		}
		us = append(us, t)
	}
	if len(us) > 0 {
		parts = append(parts, "proxy to "+strings.Join(us, ", "))
	}
	if ret != "" {
		parts = append(parts, "answers "+code(ret))
	}
	return strings.Join(parts, " ")
}

// firewallSection shows each host's ruleset as the host gets it, with
// sources named after the hosts whose addresses they are.
func (m *model) firewallSection(b *bytes.Buffer) {
	any := false
	for _, h := range m.hosts {
		for _, r := range present(h, spec.KindFirewall) {
			if !any {
				b.WriteString("\n## Firewall\n\nWho may open a connection to which port of each host (nftables table `inet tend`; what is not listed is dropped when the policy is drop). Role and host sources are shown as the hosts they stand for.\n")
				any = true
			}
			f := r.Spec.(*spec.Firewall)
			fmt.Fprintf(b, "\n### firewall of %s\n\n", h.Name)
			fmt.Fprintf(b, "Input policy %s, forward policy %s; a change tend cannot confirm over a new SSH connection is reverted after %s.\n\n", code(f.InputPolicy), code(f.ForwardPolicy), f.RevertAfter)
			b.WriteString("| allow | ports | from | for |\n|---|---|---|---|\n")
			for _, e := range f.Allow {
				rule, err := spec.ParseRule(e)
				if err != nil {
					continue // compiled entries parse
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s |\n", rule.Proto, portsText(rule.Ports), m.sourcesText(rule.From), cell(rule.Comment))
			}
			if len(f.Forward) > 0 {
				b.WriteString("\n| forward | to | from | source address |\n|---|---|---|---|\n")
				for _, e := range f.Forward {
					fw, err := spec.ParseForward(e)
					if err != nil {
						continue
					}
					to := m.sourceText(fw.To)
					keep := "masqueraded (the target answers through this host)"
					if fw.KeepSource {
						keep = "kept"
					}
					fmt.Fprintf(b, "| %s %d | %s port %d | %s | %s |\n", fw.Proto, fw.Port, to, fw.ToPort, m.sourcesText(fw.From), keep)
				}
			}
			if len(f.NAT) > 0 {
				fmt.Fprintf(b, "\nMasqueraded on their way out (NAT): %s.\n", strings.Join(codes(f.NAT), ", "))
			}
		}
	}
}

func portsText(ps []spec.PortRange) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

func (m *model) sourcesText(ss []spec.Source) string {
	if len(ss) == 0 {
		return "anyone"
	}
	var out []string
	for _, s := range ss {
		out = append(out, cell(m.sourceText(s)))
	}
	return strings.Join(out, ", ")
}

// tunnelSection lists each link once, from its server side.
func (m *model) tunnelSection(b *bytes.Buffer) {
	any := false
	for _, h := range m.hosts {
		for _, r := range present(h, spec.KindTunnel) {
			t := r.Spec.(*spec.Tunnel)
			if t.Side != spec.TunnelServer {
				continue
			}
			if !any {
				b.WriteString("\n## Tunnels\n\nMutual-TLS links (docs/tunnels.md): the server side listens on its port, open to the client hosts only; programs on each client host reach the service at the listen address.\n\n| link | server | service | port | clients | clients listen on | stunnel4 sides |\n|---|---|---|---|---|---|---|\n")
				any = true
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s |\n", cell(r.Name), cell(h.Name), code(t.To), t.Port,
				dash(strings.Join(t.Peers, ", ")), code(t.Listen), dash(strings.Join(t.Stunnel, ", ")))
		}
	}
}

// backupSection lists every backup and replica: what, where to, how
// often, what can be lost (RPO), what is kept, and where to see the last
// run and drill (not in the spec: the store and the hosts hold them).
func (m *model) backupSection(b *bytes.Buffer) {
	var rows []string
	env := m.env.Name
	for _, h := range m.hosts {
		for _, r := range h.Resources {
			if r.State == spec.StateAbsent {
				continue
			}
			switch s := r.Spec.(type) {
			case *spec.PostgresBackup:
				rows = append(rows, fmt.Sprintf("| %s | PostgreSQL %s cluster %s (point in time) | %s | base backups %s, WAL continuously | at most %s (archive_timeout) | %d base backups and %s | `tend db status %s`, `tend db drill %s` |",
					cell(h.Name), s.Version, code(r.Name), code(storeName(s.Store)), code(s.Schedule), s.ArchiveTimeout, s.KeepCount, s.KeepWithin, env, env))
			case *spec.FileBackup:
				rows = append(rows, fmt.Sprintf("| %s | files %s (snapshots) | %s | %s | one schedule period; late after %s | set by `tend snapshot forget` | `tend status %s`, `tend snapshot list` |",
					cell(h.Name), strings.Join(codes(s.Paths), ", "), code(storeName(s.Store)), code(s.Schedule), s.MaxAge, env))
			case *spec.Replica:
				from, keep := code(storeName(s.From)), "deleted objects "+s.KeepDeleted
				if s.FromDir != "" {
					from = code(s.FromDir)
					keep = fmt.Sprintf("%d hourly, %d daily, %d weekly, %d monthly copies", s.KeepHourly, s.KeepDaily, s.KeepWeekly, s.KeepMonthly)
				}
				rows = append(rows, fmt.Sprintf("| %s | replica %s of %s | %s | %s | late after %s | %s | `tend status %s`, `tend replica status` |",
					cell(h.Name), code(r.Name), from, code(storeName(s.To)), code(s.Schedule), s.MaxAge, keep, env))
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n## Backups\n\nRPO is what a loss could cost at most when everything runs. The last run and the last restore drill are not in the spec: the commands in the last column show them (drills are recorded in the store, `drills/`).\n\n")
	b.WriteString("| host | what | store | schedule | RPO | kept | last run, drill |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
}

// secretSection names the environment's secrets and what uses them, never
// their values: the hosts were compiled without them.
func (m *model) secretSection(b *bytes.Buffer) {
	users := map[string][]string{}
	hasTunnels := false
	for _, h := range m.hosts {
		for _, r := range h.Resources {
			for _, s := range secretsUsed(r, m.env.Secrets) {
				u := h.Name + ": " + r.ID
				if !slices.Contains(users[s], u) {
					users[s] = append(users[s], u)
				}
			}
			hasTunnels = hasTunnels || r.Kind == spec.KindTunnel
		}
	}
	if len(m.env.Secrets) == 0 && !hasTunnels {
		return
	}
	fmt.Fprintf(b, "\n## Secrets\n\nNames only: the values are encrypted in `secrets/%s.yaml` (`tend secret list %s`).\n\n| variable | secret | used by |\n|---|---|---|\n", m.env.Name, m.env.Name)
	refs := slices.Clone(m.env.Secrets)
	slices.SortFunc(refs, func(a, b spec.SecretRef) int { return strings.Compare(a.Var, b.Var) })
	for _, s := range refs {
		fmt.Fprintf(b, "| %s | %s | %s |\n", code(s.Var), code(s.Secret), orDash(strings.Join(codes(users[s.Secret]), ", ")))
	}
	if hasTunnels {
		fmt.Fprintf(b, "| — | %s | the tunnels' certificate authority (`tend tunnel ca init %s`) |\n", code(tunnel.SecretName), m.env.Name)
	}
}

// orDash is s, or a dash for an empty cell; s is Markdown already.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
