package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTunnelCA: ca init stores the CA in the encrypted secrets (nothing on
// stdout) and refuses to replace it; issue writes a certificate of
// the named side that verifies against the CA, with its key mode 0600.
func TestTunnelCA(t *testing.T) {
	e := newSecretEnv(t)
	e.writeSpec("vault_db_password")
	key, pub := e.keygen("ops")
	e.useKey(key)
	out, errOut, code := e.run("", "tunnel", "ca", "init", "production", "--repo", e.repo, "--recipient", pub)
	if code != 0 || out != "" || !strings.Contains(errOut, "added vault_tunnel_ca") {
		t.Fatalf("ca init: %d\n%s%s", code, out, errOut)
	}
	if f := e.file("production"); !strings.Contains(f, "vault_tunnel_ca") {
		t.Fatalf("secrets file:\n%s", f)
	}
	e.fails(1, "", []string{"tunnel", "ca", "init", "production", "--repo", e.repo}, "already exists")

	dir := filepath.Join(e.home, "peer")
	got := e.ok("", "tunnel", "issue", "production", "mongo", "client", "web1", "--repo", e.repo, "--out", dir)
	if got != "checkHost = server.mongo.production.tend.invalid\n" {
		t.Fatalf("issue printed %q", got)
	}
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if fi, _ := os.Stat(filepath.Join(dir, "key.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode %v", fi.Mode().Perm())
	}
	pair, err := tls.X509KeyPair(read("cert.pem"), read("key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	blk, _ := pem.Decode(read("ca.pem"))
	caCert, _ := x509.ParseCertificate(blk.Bytes)
	roots.AddCert(caCert)
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if u := pair.Leaf.URIs; len(u) != 1 || u[0].String() != "tend://production/link/mongo/client/web1" {
		t.Fatalf("identity %v", u)
	}
}
