package plan_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/plan"
	"tend/internal/spec"
	"tend/internal/tunnel"
)

// TestIssueTunnels: each side gets the certificate of its own identity
// from the environment's CA, the same one for a second plan in the same
// period; the key makes the resource sensitive, and the desired state sent
// to the host carries it.
func TestIssueTunnels(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"tend.yaml":              "name: demo\n",
		"environments/prod.yaml": "hosts:\n  db: {address: 192.0.2.1, roles: [db]}\n  web: {address: 192.0.2.2}\n",
		"roles/db/role.yaml":     "resources:\n  - tunnel: pg\n    to: 127.0.0.1:5432\n    port: 7432\n    clients: [web]\n    listen: 127.0.0.1:5432\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	r, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	ca, _ := tunnel.NewCA(seed, "prod")
	now := time.Now()
	issue := func(host string) *spec.Resource {
		h, err := r.Compile("prod", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := plan.IssueTunnels(h, ca, now); err != nil {
			t.Fatal(err)
		}
		d, err := plan.Desired(h)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Resources[0].Sensitive || !strings.Contains(string(d.Resources[0].Spec), "PRIVATE KEY") {
			t.Fatalf("%s: the desired state lacks the key or is not sensitive", host)
		}
		return h.Resources[0]
	}
	for host, id := range map[string]string{"db": "tend://prod/link/pg/server", "web": "tend://prod/link/pg/client/web"} {
		s := issue(host).Spec.(*spec.Tunnel)
		again := issue(host).Spec.(*spec.Tunnel)
		if again.Cert != s.Cert || again.Key != s.Key {
			t.Errorf("%s: a second plan in the period issued another certificate", host)
		}
		want, _ := ca.Issue(id, now)
		if s.Cert != want.Cert || s.CA != ca.PEM {
			t.Errorf("%s: the certificate is not the one of %s", host, id)
		}
	}
}
