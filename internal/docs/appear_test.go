package docs

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"tend/internal/spec"
)

// section returns the lines of the page under the heading (up to the
// next heading of the same level or above), or fails.
func section(t *testing.T, page, heading string) string {
	t.Helper()
	level := strings.Index(heading, " ")
	lines := strings.Split(page, "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		end := len(lines)
		for j := i + 1; j < len(lines); j++ {
			if h := strings.Index(lines[j], " "); strings.HasPrefix(lines[j], "#") && h > 0 && h <= level && strings.Trim(lines[j][:h], "#") == "" {
				end = j
				break
			}
		}
		return strings.Join(lines[i+1:end], "\n")
	}
	t.Errorf("no heading %q", heading)
	return ""
}

// row returns the first line of text holding every fragment.
func row(text string, fragments ...string) (string, bool) {
	for _, l := range strings.Split(text, "\n") {
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(l, f)
		}
		if all {
			return l, true
		}
	}
	return "", false
}

// TestEverythingAppears: every host, site, firewall rule, forward, tunnel
// and backup of the examples and of the test spec appears in its page,
// where a reader looks for it, and every host and tunnel in the diagram.
// It reads the compiled spec itself, so a kind or entry the page forgets
// fails here.
func TestEverythingAppears(t *testing.T) {
	for repo := range cases(t) {
		r := load(t, repo)
		for _, env := range r.EnvironmentNames() {
			t.Run(fromTop(repo)+"/"+env, func(t *testing.T) {
				data, err := Render(r, env)
				if err != nil {
					t.Fatal(err)
				}
				page := string(data)
				hostTable := section(t, page, "## Hosts")
				diagram := section(t, page, "## Diagram")
				parent, edges := checkMermaid(t, mermaidBlock(t, page))
				for _, hd := range r.Environments[env].Hosts {
					h, err := r.Compile(env, hd.Name, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, ok := row(hostTable, "["+h.Name+"]", "`"+h.Address+"`"); !ok {
						t.Errorf("host %s is not in the hosts table", h.Name)
					}
					if !strings.Contains(diagram, hostID(h.Name)+`["`+h.Name+"<br/>"+h.Address) {
						t.Errorf("host %s is not a node of the diagram", h.Name)
					}
					onHost := section(t, page, "### host "+h.Name)
					for _, role := range h.Roles {
						if !strings.Contains(onHost, "`"+role+"`") {
							t.Errorf("host %s: role %s missing", h.Name, role)
						}
					}
					for _, res := range h.Resources {
						checkResource(t, page, onHost, h, res)
						if tn, ok := res.Spec.(*spec.Tunnel); ok && tn.Side == spec.TunnelServer && res.State != spec.StateAbsent {
							for _, p := range tn.Peers {
								id := hostID(p)
								if !slices.ContainsFunc(edges, func(e [3]string) bool {
									return e[1] == "==>" && e[2] == hostID(h.Name) && (e[0] == id || inside(parent, id, e[0]))
								}) {
									t.Errorf("tunnel %s: no tunnel edge from %s in the diagram", res.Name, p)
								}
							}
						}
					}
				}
				var hosts []*spec.Host
				for _, hd := range r.Environments[env].Hosts {
					h, err := r.Compile(env, hd.Name, nil)
					if err != nil {
						t.Fatal(err)
					}
					hosts = append(hosts, h)
				}
				zones, err := r.DNS(env, hosts)
				if err != nil {
					t.Fatal(err)
				}
				for _, z := range zones {
					sec := section(t, page, "### zone "+z.Name)
					for _, rec := range z.Records {
						if _, ok := row(sec, "`"+rec.Name+"`", rec.Type, "`"+rec.Data+"`"); !ok {
							t.Errorf("zone %s: record %s %s %s is not listed", z.Name, rec.Name, rec.Type, rec.Data)
						}
					}
				}
				for _, s := range r.Environments[env].Secrets {
					if _, ok := row(section(t, page, "## Secrets"), "`"+s.Var+"`", "`"+s.Secret+"`"); !ok {
						t.Errorf("secret %s is not listed", s.Secret)
					}
				}
			})
		}
	}
}

func checkResource(t *testing.T, page, onHost string, h *spec.Host, res *spec.Resource) {
	t.Helper()
	if res.State == spec.StateAbsent {
		return
	}
	switch s := res.Spec.(type) {
	case *spec.Service, *spec.Package, *spec.PostgresDatabase, *spec.Timer, *spec.Cron, *spec.Git:
		if !strings.Contains(onHost, "`"+res.Name+"`") {
			t.Errorf("host %s: %s is not in its section", h.Name, res.ID)
		}
	case *spec.Site:
		sec := section(t, page, "### site "+res.Name+" on "+h.Name)
		for _, n := range s.ServerNames {
			if !strings.Contains(sec, "`"+n+"`") {
				t.Errorf("site %s: name %s missing", res.Name, n)
			}
		}
		for _, u := range s.Upstreams {
			line, ok := row(sec, "`"+u+"`")
			if !ok {
				t.Errorf("site %s: upstream %s missing", res.Name, u)
			}
			for _, a := range s.Resolved[u] {
				if !strings.Contains(line, "`"+a+"`") {
					t.Errorf("site %s: upstream %s resolves to %s, not shown: %s", res.Name, u, a, line)
				}
			}
		}
		for _, l := range s.Locations {
			if _, ok := row(sec, "| `"+l.Path+"` |"); !ok {
				t.Errorf("site %s: location %s missing", res.Name, l.Path)
			}
		}
	case *spec.Firewall:
		sec := section(t, page, "### firewall of "+h.Name)
		for _, e := range s.Allow {
			rule, _ := spec.ParseRule(e)
			want := []string{"| " + rule.Proto + " | " + portsText(rule.Ports) + " |", rule.Comment}
			for _, src := range rule.From {
				want = append(want, src.String())
			}
			if _, ok := row(sec, want...); !ok {
				t.Errorf("host %s: firewall rule %q is not a row of its table", h.Name, e)
			}
		}
		for _, e := range s.Forward {
			fw, _ := spec.ParseForward(e)
			want := []string{"| " + fw.Proto + " " + strconv.Itoa(int(fw.Port)) + " |", fw.To.String() + ") port " + strconv.Itoa(int(fw.ToPort))}
			if _, ok := row(sec, want...); !ok {
				t.Errorf("host %s: forward %q is not a row of its table", h.Name, e)
			}
		}
		for _, n := range s.NAT {
			if !strings.Contains(sec, "`"+n+"`") {
				t.Errorf("host %s: NAT %s missing", h.Name, n)
			}
		}
	case *spec.Tunnel:
		if s.Side != spec.TunnelServer {
			return
		}
		line, ok := row(section(t, page, "## Tunnels"), "| "+res.Name+" | "+h.Name+" |", "`"+s.To+"`", "| "+strconv.Itoa(s.Port)+" |")
		if !ok {
			t.Errorf("tunnel %s is not in the tunnels table", res.Name)
		}
		for _, p := range s.Peers {
			if !strings.Contains(line, p) {
				t.Errorf("tunnel %s: client %s missing: %s", res.Name, p, line)
			}
		}
	case *spec.PostgresBackup:
		if _, ok := row(section(t, page, "## Backups"), "| "+h.Name+" |", "`"+res.Name+"`", "`"+storeName(s.Store)+"`", s.ArchiveTimeout, strconv.Itoa(s.KeepCount)+" base backups", s.KeepWithin); !ok {
			t.Errorf("postgres_backup %s on %s is not in the backups table", res.Name, h.Name)
		}
	case *spec.FileBackup:
		want := []string{"| " + h.Name + " |", "`" + storeName(s.Store) + "`", "`" + s.Schedule + "`", s.MaxAge}
		for _, p := range s.Paths {
			want = append(want, "`"+p+"`")
		}
		if _, ok := row(section(t, page, "## Backups"), want...); !ok {
			t.Errorf("file_backup %s on %s is not in the backups table", res.Name, h.Name)
		}
	case *spec.Replica:
		from := s.From
		if s.FromDir != "" {
			from = s.FromDir
		}
		if _, ok := row(section(t, page, "## Backups"), "| "+h.Name+" |", "replica `"+res.Name+"`", "`"+storeName(from)+"`", "`"+storeName(s.To)+"`"); !ok {
			t.Errorf("replica %s on %s is not in the backups table", res.Name, h.Name)
		}
	}
}
