package spec

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/hint"

	"github.com/google/go-cmp/cmp"
)

func diffLines(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		a, b := "(absent)", "(absent)"
		if d.A != nil {
			a = *d.A
		}
		if d.B != nil {
			b = *d.B
		}
		mark := "NOT ALLOWED"
		if d.Allowed {
			mark = "allowed"
		}
		line := ""
		if d.Line > 0 {
			line = fmt.Sprintf(" line %d", d.Line)
		}
		out = append(out, d.Path+line+": "+a+" | "+b+" | "+mark+": "+d.Reason+" @ "+d.At)
	}
	return out
}

// TestParity compares the example environments: every difference is
// either allowed by default (names, addresses, ssh) or declared in
// staging's may_differ, and secret values never appear.
func TestParity(t *testing.T) {
	r := loadGood(t)
	got, err := Parity(r, "staging", "production")
	if err != nil {
		t.Fatal(err)
	}
	// The nginx file differs by a comment naming the environment,
	// which a resources rule allows; the server_name and workers it
	// renders follow from allowed variables and are not listed again.
	want := []string{
		"hosts.web-staging.address: staging.madada.fr | 192.0.2.10 | allowed: addresses may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.addresses.internal: (absent) | 10.0.0.2 | allowed: addresses may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.addresses.public6: (absent) | 2001:db8::10 | allowed: addresses may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.name: web-staging | web | allowed: host names may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.resources.file:/etc/nginx/sites-enabled/alaveteli.content line 5:     # web-staging in staging, 1 workers |     # web in production, 4 workers | allowed: may_differ resources.file:/etc/nginx/sites-enabled/alaveteli (environments/staging.yaml:2:56) @ roles/alaveteli/role.yaml:11:15",
		"hosts.web-staging.ssh.port: 2222 | 22 | allowed: ssh settings may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.ssh.user: deploy | root | allowed: ssh settings may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.vars.server_name: staging.madada.fr | madada.fr | allowed: may_differ vars.server_name (environments/staging.yaml:2:14) @ environments/staging.yaml:4:16",
		"hosts.web-staging.vars.workers: 1 | 4 | allowed: may_differ hosts.web.vars.workers (environments/staging.yaml:2:32) @ environments/staging.yaml:17:16",
	}
	if diff := cmp.Diff(want, diffLines(got)); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}
	// The comparison is symmetric: production against staging pairs
	// the same hosts and names them from production's side.
	back, err := Parity(r, "production", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(got) {
		t.Errorf("production/staging: %d differences, staging/production: %d\n%v", len(back), len(got), diffLines(back))
	}
	for _, d := range back {
		if !d.Allowed {
			t.Errorf("production/staging: not allowed: %v", diffLines([]Difference{d}))
		}
	}
}

// TestParityUndeclared changes staging in ways may_differ does not declare
// and checks that each is reported as not allowed.
func TestParityUndeclared(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/good")); err != nil {
		t.Fatal(err)
	}
	staging := `like: production
may_differ: [vars.server_name]
vars:
  server_name: staging.madada.fr
  debug: true
secrets:
  db_password: vault_db_password
  smtp_password: vault_smtp_password
hosts:
  web-staging:
    like: web
    address: staging.madada.fr
    provider: gandi
    location: paris
    kind: bare-metal
    roles: [nginx]
  extra:
    address: 192.0.2.99
`
	if err := os.WriteFile(filepath.Join(dir, "environments/staging.yaml"), []byte(staging), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parity(r, "staging", "production")
	if err != nil {
		t.Fatal(err)
	}
	// Staging lacks the roles production has: every resource and handler
	// they declare is missing, each at its declaration.
	want := []string{
		"hosts.extra: present | (absent) | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:17:3",
		"hosts.web-staging.address: staging.madada.fr | 192.0.2.10 | allowed: addresses may differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.addresses.internal: (absent) | 10.0.0.2 | allowed: addresses may differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.addresses.public6: (absent) | 2001:db8::10 | allowed: addresses may differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.handlers.restart-postgresql: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:20:3",
		"hosts.web-staging.kind: bare-metal | vps | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.name: web-staging | web | allowed: host names may differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.resources.envdir:/srv/alaveteli/env: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:14:5",
		"hosts.web-staging.resources.file:/etc/motd: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:25:5",
		"hosts.web-staging.resources.file:/etc/nginx/sites-enabled/alaveteli: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:10:5",
		"hosts.web-staging.resources.package:postgresql: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:4:5",
		"hosts.web-staging.resources.postgres_database:alaveteli: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:23:5",
		"hosts.web-staging.resources.postgres_hba:local-all: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:14:5",
		"hosts.web-staging.resources.postgres_role:alaveteli: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:20:5",
		"hosts.web-staging.resources.postgres_settings:main: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:8:5",
		"hosts.web-staging.resources.service:postgresql: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:5:5",
		"hosts.web-staging.resources.swap:/swapfile: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/swap/role.yaml:4:5",
		"hosts.web-staging.resources.timer:alaveteli-alerts: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:27:5",
		"hosts.web-staging.resources.user:alaveteli: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:7:5",
		"hosts.web-staging.roles: nginx | postgresql, swap, nginx, alaveteli | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:10:3",
		"hosts.web-staging.vars.app_dir: (absent) | /srv/alaveteli | NOT ALLOWED: not declared in may_differ @ roles/alaveteli/role.yaml:4:12",
		"hosts.web-staging.vars.debug: true | (absent) | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:5:10",
		"hosts.web-staging.vars.pg_version: (absent) | 15 | NOT ALLOWED: not declared in may_differ @ roles/postgresql/role.yaml:2:15",
		"hosts.web-staging.vars.server_name: staging.madada.fr | madada.fr | allowed: may_differ vars.server_name (environments/staging.yaml:2:14) @ environments/staging.yaml:4:16",
		"hosts.web-staging.vars.workers: (absent) | 4 | NOT ALLOWED: not declared in may_differ @ environments/production.yaml:15:16",
		"secrets.smtp_password: vault_smtp_password | (absent) | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:8:18",
	}
	if diff := cmp.Diff(want, diffLines(got)); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}
}

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		rule, path string
		want       bool
	}{
		{"vars.a", "vars.a", true},
		{"vars.a", "vars.ab", false},
		{"hosts.web", "hosts.web.vars.x", true},
		{"hosts.*.kind", "hosts.db.kind", true},
		{"hosts.*.kind", "hosts.db.arch", false},
		{"hosts.web.vars.x", "hosts.web.vars", false},
	}
	for _, tt := range tests {
		t.Run(tt.rule+" "+tt.path, func(t *testing.T) {
			if got := ruleMatches(tt.rule, tt.path); got != tt.want {
				t.Errorf("ruleMatches(%q, %q) = %v, want %v", tt.rule, tt.path, got, tt.want)
			}
		})
	}
}

// loadFiles writes files (path: content) into a new directory and loads it.
func loadFiles(t *testing.T, files map[string]string) *Repo {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compiledRepo is staging like production, where the variables, host
// fields and secret names that differ are all allowed, but the role tests
// the environment's name: in a file's content and in a package's name.
var compiledRepo = map[string]string{
	"tend.yaml": "name: t\n",
	"environments/production.yaml": `vars:
  server_name: example.org
secrets:
  db_password: vault_prod_db
hosts:
  web:
    address: 192.0.2.10
    kind: vps
    roles: [web]
`,
	"environments/staging.yaml": `like: production
may_differ: [vars.server_name, hosts.*.kind, secrets.db_password]
vars:
  server_name: staging.example.org
secrets:
  db_password: vault_staging_db
hosts:
  web-staging:
    like: web
    address: 192.0.2.20
    kind: proxmox-ct
    roles: [web]
`,
	"roles/web/role.yaml": `resources:
  - file: /etc/app.conf
    content: |
      server_name {{.server_name}}
      kind {{.host.kind}}
      password {{.db_password}}
      {{ if eq .env.name "staging" }}debug = true{{ end }}
  - package: '{{ if eq .env.name "staging" }}app-debug{{ else }}app{{ end }}'
  - file: /etc/motd
    content: "Welcome to {{.host.name}} ({{.server_name}})\n"
    notify: [reload]
handlers:
  reload: {service: "{{.server_name}}", action: reload}
`,
}

// TestParityCompiled checks that parity compares what is really applied:
// what a role makes differ by .env.name is not allowed, at the field
// causing it, while what follows from allowed differences only (the
// server name, the host's name and kind, the secret's name, all rendered
// into files and a handler) is not reported twice.
func TestParityCompiled(t *testing.T) {
	r := loadFiles(t, compiledRepo)
	got, err := Parity(r, "staging", "production")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hosts.web-staging.address: 192.0.2.20 | 192.0.2.10 | allowed: addresses may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.kind: proxmox-ct | vps | allowed: may_differ hosts.*.kind (environments/staging.yaml:2:32) @ environments/staging.yaml:8:3",
		"hosts.web-staging.name: web-staging | web | allowed: host names may differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.resources.file:/etc/app.conf.content line 4: debug = true |  | NOT ALLOWED: not declared in may_differ @ roles/web/role.yaml:3:14",
		"hosts.web-staging.resources.package:app: (absent) | present | NOT ALLOWED: not declared in may_differ @ roles/web/role.yaml:8:5",
		"hosts.web-staging.resources.package:app-debug: present | (absent) | NOT ALLOWED: not declared in may_differ @ roles/web/role.yaml:8:5",
		"hosts.web-staging.vars.server_name: staging.example.org | example.org | allowed: may_differ vars.server_name (environments/staging.yaml:2:14) @ environments/staging.yaml:4:16",
		"secrets.db_password: vault_staging_db | vault_prod_db | allowed: may_differ secrets.db_password (environments/staging.yaml:2:46) @ environments/staging.yaml:6:16",
	}
	if diff := cmp.Diff(want, diffLines(got)); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}

	err = CheckParity(r, "staging")
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("CheckParity: %v, want an ErrorList", err)
	}
	wantErrs := []string{
		`roles/web/role.yaml:3:14: hosts.web-staging.resources.file:/etc/app.conf.content line 4: staging "debug = true", production "" (not declared in may_differ)`,
		`roles/web/role.yaml:8:5: hosts.web-staging.resources.package:app-debug: staging "present", production (absent) (not declared in may_differ)`,
		`roles/web/role.yaml:8:5: hosts.web-staging.resources.package:app: staging (absent), production "present" (not declared in may_differ)`,
	}
	if diff := cmp.Diff(wantErrs, strings.Split(l.Error(), "\n")); diff != "" {
		t.Errorf("CheckParity errors (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(err.Error(), "environment staging is declared like production but differs in 3 ways not declared in may_differ:\n") {
		t.Errorf("CheckParity: %q", err)
	}
	if h := hint.Of(err); !strings.Contains(h, "tend parity staging production") || !strings.Contains(h, "environments/staging.yaml") {
		t.Errorf("hint %q", h)
	}
	if err := CheckParity(r, "production"); err != nil {
		t.Errorf("production is like no environment: %v", err)
	}
}

// TestParityCompiledAllowed checks the other ways a difference in what is
// applied is allowed: a variable may_differ allows, rendered into a file
// (not reported: it follows from vars.workers), and a resource may_differ
// names (reported as allowed).
func TestParityCompiledAllowed(t *testing.T) {
	files := maps.Clone(compiledRepo)
	files["environments/staging.yaml"] = strings.Replace(files["environments/staging.yaml"],
		"may_differ: [", `may_differ: ["resources.file:/etc/app.conf", "resources.package:app", "resources.package:app-debug", `, 1)
	r := loadFiles(t, files)
	if err := CheckParity(r, "staging"); err != nil {
		t.Fatalf("CheckParity: %v", err)
	}
	got, err := Parity(r, "production", "staging")
	if err != nil {
		t.Fatal(err)
	}
	var res []string
	for _, l := range diffLines(got) {
		if strings.Contains(l, ".resources.") {
			res = append(res, l)
		}
	}
	want := []string{
		`hosts.web.resources.file:/etc/app.conf.content line 4:  | debug = true | allowed: may_differ resources.file:/etc/app.conf (environments/staging.yaml:2:14) @ roles/web/role.yaml:3:14`,
		`hosts.web.resources.package:app: present | (absent) | allowed: may_differ resources.package:app (environments/staging.yaml:2:46) @ roles/web/role.yaml:8:5`,
		`hosts.web.resources.package:app-debug: (absent) | present | allowed: may_differ resources.package:app-debug (environments/staging.yaml:2:71) @ roles/web/role.yaml:8:5`,
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("resource differences (-want +got):\n%s", diff)
	}
}

// TestParityCompiledRoles checks two ends of neutralising: roles that may
// differ bring resources that are not reported, and a host field that may
// not differ is reported both as itself and in the resource rendering it.
func TestParityCompiledRoles(t *testing.T) {
	files := maps.Clone(compiledRepo)
	files["roles/web/role.yaml"] = `resources:
  - file: /etc/kind
    content: "{{.host.kind}}\n"
`
	files["roles/extra/role.yaml"] = `resources:
  - package: extra
`
	files["environments/staging.yaml"] = `like: production
may_differ: [vars.server_name, secrets.db_password, hosts.web.roles]
vars:
  server_name: staging.example.org
secrets:
  db_password: vault_staging_db
hosts:
  web-staging:
    like: web
    address: 192.0.2.20
    kind: proxmox-ct
    roles: [web, extra]
`
	r := loadFiles(t, files)
	got, err := Parity(r, "staging", "production")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range diffLines(got) {
		if strings.Contains(l, "kind") || strings.Contains(l, "roles") || strings.Contains(l, "resources") {
			lines = append(lines, l)
		}
	}
	want := []string{
		"hosts.web-staging.kind: proxmox-ct | vps | NOT ALLOWED: not declared in may_differ @ environments/staging.yaml:8:3",
		"hosts.web-staging.resources.file:/etc/kind.content line 1: proxmox-ct | vps | NOT ALLOWED: not declared in may_differ @ roles/web/role.yaml:3:14",
		"hosts.web-staging.roles: web, extra | web | allowed: may_differ hosts.web.roles (environments/staging.yaml:2:53) @ environments/staging.yaml:8:3",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}
}

// TestParityCompiledCannotCompare checks the case where the host with the
// allowed values does not compile (production's role needs a variable
// staging lacks, and the roles may differ): reported, not allowed, with
// the missing variable.
func TestParityCompiledCannotCompare(t *testing.T) {
	files := maps.Clone(compiledRepo)
	files["roles/web/role.yaml"] = `resources:
  - file: /etc/app
    content: "{{.only_prod}}\n"
`
	files["roles/other/role.yaml"] = `resources:
  - package: other
`
	files["environments/production.yaml"] = strings.Replace(files["environments/production.yaml"], "vars:\n", "vars:\n  only_prod: x\n", 1)
	files["environments/staging.yaml"] = `like: production
may_differ: [vars.server_name, secrets.db_password, hosts.*.kind, hosts.web.roles]
vars:
  server_name: staging.example.org
secrets:
  db_password: vault_staging_db
hosts:
  web-staging:
    like: web
    address: 192.0.2.20
    kind: proxmox-ct
    roles: [other]
`
	r := loadFiles(t, files)
	got, err := Parity(r, "production", "staging")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, l := range diffLines(got) {
		if strings.Contains(l, "NOT ALLOWED") {
			bad = append(bad, l)
		}
	}
	want := []string{
		"hosts.web.resources: (absent) | (absent) | NOT ALLOWED: cannot compare the resources: with the allowed values of production the host does not compile: roles/web/role.yaml:3:17: file /etc/app: content: undefined variable .only_prod (host staging/web) @ environments/staging.yaml:8:3",
		"hosts.web.vars.only_prod: x | (absent) | NOT ALLOWED: not declared in may_differ @ environments/production.yaml:2:14",
	}
	if diff := cmp.Diff(want, bad); diff != "" {
		t.Errorf("differences not allowed (-want +got):\n%s", diff)
	}
}

// TestParityFirewallByRole: a firewall that admits role:web and forwards
// to host addresses by role compiles to each environment's own addresses;
// that follows from the addresses (which may differ), not a difference of
// its own.
func TestParityFirewallByRole(t *testing.T) {
	r := loadFiles(t, map[string]string{
		"tend.yaml":                    "name: p\n",
		"environments/production.yaml": "hosts:\n  db: {address: 10.0.0.20, roles: [db]}\n  web: {address: 10.0.0.10, roles: [web]}\n",
		"environments/staging.yaml": "like: production\nhosts:\n  db-staging: {like: db, address: 10.1.0.20, roles: [db]}\n" +
			"  web-staging: {like: web, address: 10.1.0.10, roles: [web]}\n",
		"roles/db/role.yaml":  "resources:\n  - firewall: db\n    allow: [tcp 5432 from role:web]\n",
		"roles/web/role.yaml": "resources: []\n",
	})
	if err := CheckParity(r, "staging"); err != nil {
		t.Errorf("a firewall by role differs only by the hosts' addresses, yet: %v", err)
	}
}
