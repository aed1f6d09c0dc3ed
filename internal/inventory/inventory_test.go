package inventory_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
)

// repo writes a repository of two hosts, web (role site, which requires
// base) and db (role postgres), whose environment maps a secret that
// has no secrets file: reaching hosts must not need it.
func repo(t *testing.T) *spec.Repo {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"tend.yaml": "name: demo\n",
		"environments/prod.yaml": `secrets:
  db_password: vault_db_password
hosts:
  web: {address: 192.0.2.10, roles: [site]}
  db: {address: 192.0.2.11, ssh: {port: 2222, user: admin}, roles: [postgres]}
groups:
  wave1: [db]
  everything: [web, db]
`,
		"roles/base/role.yaml":     "resources: []\n",
		"roles/site/role.yaml":     "requires: [base]\nresources: []\n",
		"roles/postgres/role.yaml": "resources: []\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(hs []*spec.HostDecl) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// TestSelect: --limit takes host names, any role a host plays,
// including one pulled in by requires, and groups; a name matching nothing is a
// mistake of the command line.
func TestSelect(t *testing.T) {
	r := repo(t)
	e := r.Environments["prod"]
	for _, tc := range []struct {
		limit []string
		want  []string
	}{
		{nil, []string{"web", "db"}},
		{[]string{"db"}, []string{"db"}},
		{[]string{"site"}, []string{"web"}},
		{[]string{"base"}, []string{"web"}}, // through requires
		{[]string{"base", "postgres"}, []string{"web", "db"}},
		{[]string{"wave1"}, []string{"db"}}, // a group
		{[]string{"everything"}, []string{"web", "db"}},
	} {
		t.Run(strings.Join(tc.limit, ","), func(t *testing.T) {
			got, err := inventory.Select(r, e, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("got %v, want %v", names(got), tc.want)
			}
		})
	}
	_, err := inventory.Select(r, e, []string{"web", "nope"})
	var inv *inventory.InvalidError
	if !errors.As(err, &inv) || err.Error() != `--limit: "nope" is neither a host, a role nor a group of prod` {
		t.Errorf("unknown name: %v", err)
	}
}

// TestReach: a host is reached at its address and port with the key
// pinned in known_hosts, without the environment's secrets; a host
// without a pinned key is refused with how to pin it.
func TestReach(t *testing.T) {
	r := repo(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(block)
	getenv := func(k string) string {
		if k == "TEND_SSH_KEY" {
			return string(pemKey)
		}
		return "" // no secrets identity: reaching must not ask for one
	}
	known, err := ssh.LoadKnownHosts(filepath.Join(r.Dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	known.Set("192.0.2.11", 2222, signer.PublicKey(), "prod/db")
	if err := known.Save(); err != nil {
		t.Fatal(err)
	}

	hs, err := inventory.Reach(r, inventory.Options{Env: "prod", Limit: []string{"postgres"}, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Name != "db" {
		t.Fatalf("hosts: %+v", hs)
	}
	c := hs[0].SSH
	if c.Host != "192.0.2.11" || c.Port != 2222 || c.User != "admin" ||
		string(c.HostKey.Marshal()) != string(signer.PublicKey().Marshal()) ||
		string(c.Signer.PublicKey().Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Errorf("ssh config: %+v", c)
	}

	_, err = inventory.Reach(r, inventory.Options{Env: "prod", Getenv: getenv})
	if err == nil || !strings.Contains(err.Error(), "host web (192.0.2.10): no pinned host key") ||
		hint.Of(err) != "check its fingerprint, then record it: tend host trust prod web" {
		t.Errorf("unpinned host: %v (hint %q)", err, hint.Of(err))
	}

	hs, err = inventory.Reach(r, inventory.Options{Env: "prod", Only: []string{"db", "gone"}, Getenv: getenv})
	if err != nil || len(hs) != 1 || hs[0].Name != "db" {
		t.Errorf("only db: %+v, %v", hs, err)
	}

	_, err = inventory.Reach(r, inventory.Options{Env: "staging", Getenv: getenv})
	var inv *inventory.InvalidError
	if !errors.As(err, &inv) || hint.Of(err) != "environments are: prod" {
		t.Errorf("unknown environment: %v (hint %q)", err, hint.Of(err))
	}

	_, err = inventory.Reach(r, inventory.Options{Env: "prod", Limit: []string{"db"}, Getenv: func(string) string { return "" }})
	if err == nil || err.Error() != "no SSH key to log in with" {
		t.Errorf("no client key: %v", err)
	}
}
