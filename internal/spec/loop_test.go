package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const loopRepo = `
-- tend.yaml --
name: l
-- environments/production.yaml --
hosts:
  web: {address: 10.0.0.1, arch: amd64, roles: [web]}
  pi: {address: 10.0.0.2, arch: arm64, roles: [web]}
-- roles/web/role.yaml --
vars:
  vhosts:
    - {name: a.example.org, root: /srv/a}
    - {name: b.example.org, root: /srv/b}
  users: {alice: 1001, bob: 1002}
resources:
  - file: "/etc/nginx/sites-enabled/{{.item.name}}"
    for_each: vhosts
    content: "server_name {{.item.name}}; root {{.item.root}};"
  - file: "/etc/uids/{{.item.key}}"
    for_each: users
    content: "{{.item.value}}"
  - package: intel-microcode
    when: '{{ eq .host.arch "amd64" }}'
  - file: "/etc/amd64/{{.item.name}}"
    for_each: vhosts
    when: '{{ and (eq .host.arch "amd64") (ne .item.name "b.example.org") }}'
    content: x
`

// TestForEachWhen: a declaration repeated over a list (.item) and over a
// mapping (.item.key and .item.value, in key order), and included only
// where its condition holds, per host and per item.
func TestForEachWhen(t *testing.T) {
	r, err := Load(writeRepo(t, loopRepo))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(host string) []string {
		h, err := r.Compile("production", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range h.Resources {
			out = append(out, x.ID)
		}
		return out
	}
	want := []string{"file:/etc/nginx/sites-enabled/a.example.org", "file:/etc/nginx/sites-enabled/b.example.org",
		"file:/etc/uids/alice", "file:/etc/uids/bob", "package:intel-microcode", "file:/etc/amd64/a.example.org"}
	if d := cmp.Diff(want, ids("web")); d != "" {
		t.Errorf("web (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[:4], ids("pi")); d != "" {
		t.Errorf("pi (-want +got):\n%s", d)
	}
	h, _ := r.Compile("production", "web", nil)
	if got := content(t, h, "file:/etc/nginx/sites-enabled/b.example.org"); got != "server_name b.example.org; root /srv/b;" {
		t.Errorf("item rendered %q", got)
	}
	if got := content(t, h, "file:/etc/uids/bob"); got != "1002" {
		t.Errorf("mapping item rendered %q", got)
	}
}

// TestForEachErrors: mistakes in loops and conditions name the file,
// line and column, and the item.
func TestForEachErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"for_each: users", "for_each: nosuch", "roles/web/role.yaml:11:15: file /etc/uids/{{.item.key}}: for_each: no variable nosuch (host production/web)"},
		{"for_each: users", "for_each: \"{{.users}}\"", "must name a variable"},
		{`content: "{{.item.value}}"`, `content: "{{.item.nosuch}}"`, "item 0 of users"},
		{`when: '{{ eq .host.arch "amd64" }}'`, `when: '{{ .host.arch }}'`, `when renders to "amd64", not true or false`},
		{`when: '{{ eq .host.arch "amd64" }}'`, `when: maybe`, "neither a template nor true or false"},
		// The same id from two items.
		{`"/etc/uids/{{.item.key}}"`, `"/etc/uids/all"`, "duplicate resource file:/etc/uids/all"},
	} {
		repo := strings.Replace(loopRepo, tc.from, tc.to, 1)
		r, err := Load(writeRepo(t, repo))
		if err == nil {
			_, err = r.Compile("production", "web", nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q: %v; want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestGroups: an environment's groups name its hosts; templates see a
// host's groups; a group naming an unknown host, or named like a host or
// a role, is an error at its position.
func TestGroups(t *testing.T) {
	repo := strings.Replace(loopRepo, "  pi: {address: 10.0.0.2, arch: arm64, roles: [web]}\n",
		"  pi: {address: 10.0.0.2, arch: arm64, roles: [web]}\ngroups:\n  wave1: [pi]\n  all: [web, pi]\n", 1)
	repo = strings.Replace(repo, "  - package: intel-microcode\n", "  - file: /etc/groups\n    content: '{{ .host.groups | join \",\" }}'\n  - package: intel-microcode\n", 1)
	r, err := Load(writeRepo(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("production", "pi", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := content(t, h, "file:/etc/groups"); got != "all,wave1" {
		t.Errorf(".host.groups of pi: %q", got)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"wave1: [pi]", "wave1: [nosuch]", `environments/production.yaml:5:11: group wave1: "nosuch" is not a host of production`},
		{"wave1: [pi]", "web: [pi]", "group web: a host of production has that name"},
	} {
		if _, err := Load(writeRepo(t, strings.Replace(repo, tc.from, tc.to, 1))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q: %v; want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestRoleWhen: a role's when declares all its resources, or none, per
// host; a when that renders to something else is an error naming the role.
func TestRoleWhen(t *testing.T) {
	repo := strings.Replace(loopRepo, "-- roles/web/role.yaml --\n", "-- roles/web/role.yaml --\nwhen: '{{ eq .host.arch \"amd64\" }}'\n", 1)
	r, err := Load(writeRepo(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"web": 6, "pi": 0} {
		h, err := r.Compile("production", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Resources) != want {
			t.Errorf("%s: %d resources, want %d", host, len(h.Resources), want)
		}
	}
	bad := strings.Replace(repo, `when: '{{ eq .host.arch "amd64" }}'`+"\n", "when: '{{ .host.arch }}'\n", 1)
	r, err = Load(writeRepo(t, bad))
	if err == nil {
		_, err = r.Compile("production", "web", nil)
	}
	if err == nil || !strings.Contains(err.Error(), `roles/web/role.yaml:1:7: role web: when renders to "amd64", not true or false`) {
		t.Errorf("got %v", err)
	}
}
