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
