package docs

import (
	"bytes"
	"fmt"
	"strings"

	"tend/internal/spec"
)

// page writes the whole page: one section per subject, each left out
// when the environment has nothing of it, so that a small environment
// gives a short page.
func (m *model) page(b *bytes.Buffer) {
	title := m.env.Name
	if m.repo.Name != "" {
		title = m.repo.Name + ": " + m.env.Name
	}
	fmt.Fprintf(b, "%s\n\n# %s\n\n", Marker, title)
	fmt.Fprintf(b, "The infrastructure of environment `%s`, as its spec declares it (%s). ", m.env.Name, m.env.File)
	b.WriteString("This page is generated: to change it, change the spec and run `tend docs " + m.env.Name + " --out DIR`; `tend docs --out DIR --check` fails in CI when it is out of date.\n")
	if m.env.Like != "" {
		fmt.Fprintf(b, "\nIt mirrors environment `%s`", m.env.Like)
		if len(m.env.MayDiffer) > 0 {
			var ps []string
			for _, p := range m.env.MayDiffer {
				ps = append(ps, code(p.Path))
			}
			fmt.Fprintf(b, "; may differ: %s", strings.Join(ps, ", "))
		}
		b.WriteString(" (see `tend parity`).\n")
	}
	m.hostTable(b)
	m.diagram(b)
	m.hostSections(b)
	m.webSection(b)
	m.firewallSection(b)
	m.tunnelSection(b)
	m.backupSection(b)
	if dns := m.renderDNS(); dns != "" {
		b.WriteString("\n## DNS\n" + dns)
	}
	m.secretSection(b)
}

func (m *model) hostTable(b *bytes.Buffer) {
	b.WriteString("\n## Hosts\n\n| host | address | provider | location | kind | roles |\n|---|---|---|---|---|---|\n")
	for _, h := range m.hosts {
		addrs := []string{code(h.Address)}
		for _, k := range sortedKeys(h.Addresses) {
			addrs = append(addrs, k+": "+code(h.Addresses[k]))
		}
		fmt.Fprintf(b, "| [%s](#%s) | %s | %s | %s | %s | %s |\n", cell(h.Name), anchor("host "+h.Name), strings.Join(addrs, "<br>"),
			dash(h.Provider), dash(h.Location), dash(h.Kind), dash(strings.Join(h.Roles, ", ")))
	}
}

// hostSections says what runs on each host: the resources a reader asks
// about by name (services, packages, sites, databases, schedules...), and
// how many of the others there are.
func (m *model) hostSections(b *bytes.Buffer) {
	b.WriteString("\n## What runs on each host\n")
	for _, h := range m.hosts {
		fmt.Fprintf(b, "\n### host %s\n\n", h.Name)
		user, port := h.SSH.User, h.SSH.Port
		if user == "" {
			user = "root"
		}
		if port == 0 {
			port = 22
		}
		join := func(sep string) func(string, []string) {
			return func(what string, items []string) {
				if len(items) > 0 {
					fmt.Fprintf(b, "- **%s**: %s\n", what, strings.Join(items, sep))
				}
			}
		}
		// line separates items that may hold commas; list simple names.
		line, list := join("; "), join(", ")
		arch := h.Arch
		if arch == "" {
			arch = "amd64"
		}
		line("Reached at", []string{fmt.Sprintf("`%s@%s`, port %d (%s)", user, h.Address, port, arch)})
		if len(h.Roles) > 0 {
			fmt.Fprintf(b, "- **Roles**: %s\n", strings.Join(codes(h.Roles), ", "))
		}
		var services, packages, sites, dbs, pgroles, settings, schedules, deploys, users, swaps, certs, backups, tunnels, firewall, kernel []string
		others := map[string]int{}
		for _, r := range h.Resources {
			if r.State == spec.StateAbsent {
				continue
			}
			switch s := r.Spec.(type) {
			case *spec.Service:
				var st []string
				if s.Enabled != nil {
					st = append(st, map[bool]string{true: "enabled", false: "disabled"}[*s.Enabled])
				}
				if s.Running != nil {
					st = append(st, map[bool]string{true: "running", false: "stopped"}[*s.Running])
				}
				services = append(services, withNote(code(r.Name), strings.Join(st, ", ")))
			case *spec.Package:
				packages = append(packages, code(r.Name))
			case *spec.Site:
				sites = append(sites, fmt.Sprintf("[%s](#%s) (%s)", cell(r.Name), anchor("site "+r.Name+" on "+h.Name), strings.Join(codes(s.ServerNames), ", ")))
			case *spec.PostgresDatabase:
				dbs = append(dbs, withNote(code(r.Name), prefixed("owner ", s.Owner)))
			case *spec.PostgresRole:
				pgroles = append(pgroles, withNote(code(r.Name), flags(map[string]bool{"login": s.Login, "superuser": s.Superuser, "createdb": s.CreateDB, "createrole": s.CreateRole})))
			case *spec.PostgresSettings:
				if r.Sensitive {
					settings = append(settings, code(r.Name)+" (holds a secret)")
					break
				}
				var kv []string
				for _, k := range sortedKeys(s.Settings) {
					kv = append(kv, code(k+" = "+s.Settings[k]))
				}
				settings = append(settings, code(r.Name)+": "+strings.Join(kv, ", "))
			case *spec.Timer:
				schedules = append(schedules, fmt.Sprintf("timer %s at %s", code(r.Name), code(s.OnCalendar)))
			case *spec.Cron:
				schedules = append(schedules, fmt.Sprintf("cron %s at %s", code(r.Name), code(s.Schedule)))
			case *spec.Git:
				deploys = append(deploys, fmt.Sprintf("%s from %s at %s", code(r.Name), code(s.Repo), code(s.Revision)))
			case *spec.User:
				users = append(users, code(r.Name))
			case *spec.Swap:
				swaps = append(swaps, code(r.Name)+" "+s.Size)
			case *spec.Certificate:
				certs = append(certs, withNote(code(r.Name), strings.Join(s.Names, ", ")))
			case *spec.PostgresBackup, *spec.FileBackup, *spec.Replica:
				backups = append(backups, fmt.Sprintf("[%s %s](#backups)", r.Kind, cell(r.Name)))
			case *spec.Firewall:
				firewall = append(firewall, fmt.Sprintf("[its ruleset](#%s)", anchor("firewall of "+h.Name)))
			case *spec.Sysctl:
				kernel = append(kernel, code(r.Name+" = "+s.Value))
			case *spec.Tunnel:
				side := "serves"
				if s.Side == spec.TunnelClient {
					side = "client of"
				}
				tunnels = append(tunnels, fmt.Sprintf("%s [%s](#tunnels)", side, cell(r.Name)))
			case *spec.Absent:
				others["path kept absent"]++
			default:
				others[string(r.Kind)]++
			}
		}
		line("Services", services)
		list("Packages", packages)
		line("Sites", sites)
		line("Databases", dbs)
		line("PostgreSQL roles", pgroles)
		line("PostgreSQL settings", settings)
		line("Certificates", certs)
		line("Scheduled", schedules)
		line("Deployments", deploys)
		list("Users", users)
		line("Kernel settings", kernel)
		line("Firewall", firewall)
		line("Swap", swaps)
		line("Tunnels", tunnels)
		line("Backups", backups)
		var rest []string
		for _, k := range sortedKeys(others) {
			if n := others[k]; n > 1 {
				rest = append(rest, fmt.Sprintf("%d × %s", n, k))
			} else {
				rest = append(rest, k)
			}
		}
		line("Also", rest)
		fmt.Fprintf(b, "- **Resources**: %d in all\n", len(h.Resources))
	}
}

func flags(m map[string]bool) string {
	var out []string
	for _, k := range sortedKeys(m) {
		if m[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

func prefixed(p, v string) string {
	if v == "" {
		return ""
	}
	return p + v
}

func withNote(s, note string) string {
	if note == "" {
		return s
	}
	return s + " (" + note + ")"
}

// code writes s as inline code, or as escaped text when it holds a
// backtick.
func code(s string) string {
	s = oneLine(s)
	if s == "" {
		return "—"
	}
	if strings.Contains(s, "`") {
		return cell(s)
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

func codes(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = code(s)
	}
	return out
}

// cell escapes what would break a Markdown table cell or start markup.
func cell(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "`", "\\`")
	return r.Replace(oneLine(s))
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return cell(s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\x00", " ")), " ")
}

// anchor is the fragment GitHub and GitLab give a heading: lower case,
// spaces to '-', punctuation but '-' and '_' dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(heading) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
