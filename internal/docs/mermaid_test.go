package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// checkMermaid checks a Mermaid block against the subset of the flowchart
// grammar the page uses (no mmdc in Debian to run Mermaid itself):
// flowchart LR, subgraph ID["label"] ... end, nodes ID["l"], ID(("l")),
// ID[("l")], ID(["l"]), and edges ID -->|"l"| ID (==>, -.->). Labels are
// quoted and hold no quote nor tag but <br/>; ids are letters, digits and
// '_', never a keyword; every node is declared once, before the edges;
// subgraphs nest two deep at most and hold something; every edge joins
// declared nodes or subgraphs, never a subgraph and what it holds (which
// does not lay out). It returns the subgraph directly holding each node
// and subgraph, and the edges.
func checkMermaid(t *testing.T, block string) (parent map[string]string, edges [][3]string) {
	t.Helper()
	const label = `"(?:[^"<>]|<br/>)*"`
	var (
		idRE       = `([A-Za-z][A-Za-z0-9_]*)`
		subgraphRE = regexp.MustCompile(`^subgraph ` + idRE + `\[` + label + `\]$`)
		nodeRE     = regexp.MustCompile(`^` + idRE + `(\[` + label + `\]|\(\(` + label + `\)\)|\[\(` + label + `\)\]|\(\[` + label + `\]\))$`)
		edgeRE     = regexp.MustCompile(`^` + idRE + ` (-->|==>|-\.->)\|(` + label + `)\| ` + idRE + `$`)
		keywords   = []string{"end", "subgraph", "graph", "flowchart", "style", "classDef", "class", "click", "linkStyle", "direction", "default"}
	)
	lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
	if len(lines) == 0 || lines[0] != "flowchart LR" {
		t.Fatalf("mermaid: first line %q, want flowchart LR", lines[0])
	}
	declared := map[string]bool{}
	parent = map[string]string{}
	var open []string
	members := map[string]int{}
	inEdges := false
	declare := func(id string, n int) {
		if slices.Contains(keywords, id) {
			t.Errorf("mermaid line %d: id %q is a keyword", n, id)
		}
		if declared[id] {
			t.Errorf("mermaid line %d: %s declared twice", n, id)
		}
		declared[id] = true
	}
	for i, raw := range lines[1:] {
		n := i + 2
		l := strings.TrimSpace(raw)
		switch m := []([]string){subgraphRE.FindStringSubmatch(l), nodeRE.FindStringSubmatch(l), edgeRE.FindStringSubmatch(l)}; {
		case l == "end":
			if len(open) == 0 {
				t.Fatalf("mermaid line %d: end without subgraph", n)
			}
			if members[open[len(open)-1]] == 0 {
				t.Errorf("mermaid line %d: empty subgraph", n)
			}
			open = open[:len(open)-1]
		case m[0] != nil:
			if inEdges || len(open) > 1 {
				t.Errorf("mermaid line %d: subgraph after the edges or nested more than two deep", n)
			}
			declare(m[0][1], n)
			if len(open) > 0 {
				parent[m[0][1]] = open[len(open)-1]
				members[open[len(open)-1]]++
			}
			open = append(open, m[0][1])
		case m[1] != nil:
			if inEdges {
				t.Errorf("mermaid line %d: node after the edges", n)
			}
			declare(m[1][1], n)
			if len(open) > 0 {
				parent[m[1][1]] = open[len(open)-1]
				members[open[len(open)-1]]++
			}
		case m[2] != nil:
			inEdges = true
			if len(open) > 0 {
				t.Errorf("mermaid line %d: edge inside a subgraph", n)
			}
			for _, id := range []string{m[2][1], m[2][4]} {
				if !declared[id] {
					t.Errorf("mermaid line %d: edge to undeclared %s", n, id)
				}
			}
			a, z := m[2][1], m[2][4]
			if inside(parent, a, z) || inside(parent, z, a) {
				t.Errorf("mermaid line %d: an edge between a subgraph and what it holds", n)
			}
			edges = append(edges, [3]string{a, m[2][2], z})
		default:
			t.Errorf("mermaid line %d: not in the grammar: %q", n, raw)
		}
	}
	if len(open) > 0 {
		t.Errorf("mermaid: subgraph %s not closed", open[0])
	}
	return parent, edges
}

// inside reports whether id is held, directly or not, by subgraph g.
func inside(parent map[string]string, id, g string) bool {
	for p := parent[id]; p != ""; p = parent[p] {
		if p == g {
			return true
		}
	}
	return false
}

// top returns the outermost subgraph holding id, or "".
func top(parent map[string]string, id string) string {
	out := ""
	for p := parent[id]; p != ""; p = parent[p] {
		out = p
	}
	return out
}

// mermaidBlock returns the page's one Mermaid block.
func mermaidBlock(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, "\n```mermaid\n")
	block, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 || strings.Contains(rest[len(block):], "```mermaid") {
		t.Fatalf("the page has no single mermaid block")
	}
	return block
}

// TestMermaidChecker: the checker refuses what Mermaid would misread.
func TestMermaidChecker(t *testing.T) {
	for _, bad := range []string{
		"flowchart LR\n  end[\"x\"]\n",                                                                                   // a keyword as id
		"flowchart LR\n  a[\"x\"]\n  a --> b\n",                                                                          // unlabelled, undeclared
		"flowchart LR\n  a[\"say \"hi\"\"]\n",                                                                            // a raw quote
		"flowchart LR\n  subgraph g[\"x\"]\n  a[\"x\"]\n",                                                                // not closed
		"flowchart LR\n  a[\"x\"]\n  a -->|\"p\"| a\n  b[\"y\"]\n",                                                       // node after edges
		"flowchart LR\n  subgraph g[\"x\"]\n  a[\"x\"]\n  end\n  a -->|\"p\"| g\n",                                       // into its own subgraph
		"flowchart LR\n  subgraph g[\"x\"]\n  subgraph h[\"y\"]\n  subgraph i[\"z\"]\n  a[\"x\"]\n  end\n  end\n  end\n", // three deep
	} {
		ft := &testing.T{}
		done := make(chan struct{})
		go func() { defer close(done); checkMermaid(ft, bad) }()
		<-done
		if !ft.Failed() {
			t.Errorf("checker accepted %q", bad)
		}
	}
}

// TestDiagramOf20Hosts generates a 20-host infrastructure over four
// locations (web, app, db with a tunnel and its standby, mail, storage, and a monitoring
// port open on every host to the monitoring hosts) and checks that its
// diagram is valid in the grammar, that every host is a node in its
// location's subgraph, and that it stays readable: one edge per pair of
// nodes and kind of flow, and a port open on every host of a location
// drawn once for each location that holds no monitoring host (an edge
// from a node into its own subgraph would not lay out).
func TestDiagramOf20Hosts(t *testing.T) {
	dir := bigSpec(t)
	locations, roles := locations20, roles20
	r := load(t, dir)
	page, err := Render(r, "production")
	if err != nil {
		t.Fatal(err)
	}
	parent, edges := checkMermaid(t, mermaidBlock(t, string(page)))
	groups := map[string]bool{}
	for i, role := range roles {
		id := hostID(fmt.Sprintf("%s%d", role, i))
		if top(parent, id) == "" {
			t.Errorf("%s is in no subgraph", id)
		}
		groups[top(parent, id)] = true
	}
	if len(groups) != len(locations) {
		t.Errorf("%d subgraphs, want one per location (%d)", len(groups), len(locations))
	}
	seen := map[[3]string]bool{}
	for _, e := range edges {
		if seen[e] {
			t.Errorf("two edges %v: one per pair and kind of flow", e)
		}
		seen[e] = true
	}
	// Two monitoring hosts reach port 9100 on the 19 others: the
	// locations they are not in are drawn as one line each, so there are
	// fewer lines than hosts reached.
	monitor := 0
	for _, e := range edges {
		if strings.HasPrefix(e[0], "h_monitor") && e[1] == "-->" {
			monitor++
		}
	}
	if monitor >= 2*(len(roles)-1) {
		t.Errorf("%d edges from the monitoring hosts: the port open everywhere is not drawn per location", monitor)
	}
	if !slices.ContainsFunc(edges, func(e [3]string) bool {
		return e[0] == "h_monitor14" && e[1] == "-->" && inside(parent, "h_app4", e[2])
	}) {
		t.Errorf("no edge from monitor14 to a subgraph holding app4")
	}
	if len(edges) > 3*len(roles) {
		t.Errorf("%d edges for %d hosts: unreadable", len(edges), len(roles))
	}
	// Every app host reaches the database through the tunnel, itself or
	// as a whole location.
	for i, role := range roles {
		if role != "app" {
			continue
		}
		id := hostID(fmt.Sprintf("app%d", i))
		if !slices.ContainsFunc(edges, func(e [3]string) bool {
			return e[1] == "==>" && (e[0] == id || inside(parent, id, e[0]))
		}) {
			t.Errorf("no tunnel edge from %s", id)
		}
	}
	t.Logf("20 hosts: %d edges", len(edges))
}

// TestExampleDiagrams: the diagram of every committed page is valid.
func TestExampleDiagrams(t *testing.T) {
	for repo := range cases(t) {
		files, err := Generate(load(t, repo), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			checkMermaid(t, mermaidBlock(t, string(f.Data)))
		}
	}
}

// TestMermaidRenders runs real Mermaid on the diagram of every committed
// page and of the 20-host spec, when TEND_MMDC names a mermaid-cli
// command (an npm package, with a Chromium: not in Debian, so not a
// component the suite requires; the grammar checker above stands in for
// it), e.g. TEND_MMDC="/opt/mmdc/node_modules/.bin/mmdc -p puppeteer.json".
// mmdc exits non-zero on a diagram Mermaid cannot parse.
func TestMermaidRenders(t *testing.T) {
	mmdc := strings.Fields(os.Getenv("TEND_MMDC"))
	if len(mmdc) == 0 {
		t.Skip("TEND_MMDC is not set: the grammar checker stands in for Mermaid")
	}
	pages := map[string][]byte{}
	for repo := range cases(t) {
		files, err := Generate(load(t, repo), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			pages[fromTop(repo)+"/"+f.Path] = f.Data
		}
	}
	big, err := Render(load(t, bigSpec(t)), "production")
	if err != nil {
		t.Fatal(err)
	}
	pages["20 hosts"] = big
	for name, page := range pages {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.mmd")
		os.WriteFile(in, []byte(mermaidBlock(t, string(page))), 0o644)
		cmd := exec.Command(mmdc[0], append(mmdc[1:], "-q", "-i", in, "-o", filepath.Join(dir, "out.svg"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: Mermaid refuses the diagram: %v\n%s", name, err, out)
		}
	}
}

// roles20 are the roles of the 20 hosts of bigSpec, in order.
var roles20 = []string{"web", "web", "app", "app", "app", "app", "app", "app", "db", "standby", "mail", "mail", "storage", "storage", "monitor", "monitor", "app", "app", "app", "app"}

// locations20 are the locations of bigSpec; its hosts are dealt over them
// in turn, so that each location holds a mix of roles.
var locations20 = []string{"ovh roubaix", "ovh gravelines", "gandi paris", "moji paris"}

// bigSpec writes a 20-host infrastructure over four locations: web, app,
// db with a tunnel and its standby, mail, storage, and a monitoring port
// open on every host to the monitoring hosts.
func bigSpec(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tend.yaml", "name: big\n")
	locations, roles := locations20, roles20
	var env strings.Builder
	env.WriteString("hosts:\n")
	for i, role := range roles {
		loc := strings.Fields(locations[i%len(locations)])
		fmt.Fprintf(&env, "  %s%d:\n    address: 10.0.%d.%d\n    provider: %s\n    location: %s\n    roles: [%s]\n", role, i, i%4, 10+i, loc[0], loc[1], role)
	}
	write("environments/production.yaml", env.String())
	write("roles/base/role.yaml", "resources:\n  - firewall: base\n    allow: [tcp 9100 from role:monitor]\n")
	write("roles/web/role.yaml", "requires: [base]\nresources:\n  - site: www\n    server_names: [big.example.org]\n    upstreams: [\"role:app:8080\"]\n")
	write("roles/app/role.yaml", "requires: [base]\nresources:\n  - package: python3\n")
	write("roles/db/role.yaml", `requires: [base]
resources:
  - tunnel: pg
    to: 127.0.0.1:5432
    port: 7432
    clients: [app]
    listen: 127.0.0.1:5432
  - postgres_backup: main
    store: s3://backups/big/pitr
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
`)
	write("roles/standby/role.yaml", "requires: [base]\nresources:\n  - package: postgresql\n")
	write("roles/mail/role.yaml", "requires: [base]\nresources:\n  - firewall: mail\n    allow: [tcp 25]\n")
	write("roles/storage/role.yaml", "requires: [base]\nresources:\n  - replica: pitr\n    from: s3://backups/big/pitr\n    to: file:///srv/replica/pitr\n")
	write("roles/monitor/role.yaml", "requires: [base]\nresources:\n  - package: prometheus\n")
	return dir
}
