package spec

import (
	"os"
	"path/filepath"
	"testing"

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
		out = append(out, d.Path+": "+a+" | "+b+" | "+mark+": "+d.Reason)
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
	want := []string{
		"hosts.web-staging.address: staging.madada.fr | 192.0.2.10 | allowed: addresses may differ",
		"hosts.web-staging.addresses.internal: (absent) | 10.0.0.2 | allowed: addresses may differ",
		"hosts.web-staging.addresses.public6: (absent) | 2001:db8::10 | allowed: addresses may differ",
		"hosts.web-staging.name: web-staging | web | allowed: host names may differ",
		"hosts.web-staging.ssh.port: 2222 | 22 | allowed: ssh settings may differ",
		"hosts.web-staging.ssh.user: deploy | root | allowed: ssh settings may differ",
		"hosts.web-staging.vars.server_name: staging.madada.fr | madada.fr | allowed: may_differ vars.server_name (environments/staging.yaml:2:14)",
		"hosts.web-staging.vars.workers: 1 | 4 | allowed: may_differ hosts.web.vars.workers (environments/staging.yaml:2:32)",
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
	want := []string{
		"hosts.extra: present | (absent) | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.address: staging.madada.fr | 192.0.2.10 | allowed: addresses may differ",
		"hosts.web-staging.addresses.internal: (absent) | 10.0.0.2 | allowed: addresses may differ",
		"hosts.web-staging.addresses.public6: (absent) | 2001:db8::10 | allowed: addresses may differ",
		"hosts.web-staging.kind: bare-metal | vps | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.name: web-staging | web | allowed: host names may differ",
		"hosts.web-staging.roles: nginx | postgresql, swap, nginx, alaveteli | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.vars.app_dir: (absent) | /srv/alaveteli | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.vars.debug: true | (absent) | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.vars.pg_version: (absent) | 15 | NOT ALLOWED: not declared in may_differ",
		"hosts.web-staging.vars.server_name: staging.madada.fr | madada.fr | allowed: may_differ vars.server_name (environments/staging.yaml:2:14)",
		"hosts.web-staging.vars.workers: (absent) | 4 | NOT ALLOWED: not declared in may_differ",
		"secrets.smtp_password: vault_smtp_password | (absent) | NOT ALLOWED: not declared in may_differ",
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
