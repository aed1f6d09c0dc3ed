package cli

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

// TestTunnelCA: ca init stores the CA in the encrypted secrets (nothing on
// stdout) and refuses to replace it; issue prints a certificate of
// the named side that verifies against the CA, and its key.
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

	// issue prints certificate, CA and key on stdout, for a pipe: no key
	// on this machine's disk.
	got, errOut, code := e.run("", "tunnel", "issue", "production", "mongo", "client", "web1", "--repo", e.repo)
	if code != 0 || !strings.Contains(errOut, "checkHost for the server: server.mongo.production.tend.invalid") || strings.Contains(errOut, "PRIVATE") {
		t.Fatalf("issue: %d\n%s", code, errOut)
	}
	blocks := strings.SplitAfter(got, "-----\n-----BEGIN ")
	if len(blocks) != 3 || !strings.Contains(blocks[2], "PRIVATE KEY") {
		t.Fatalf("issue printed %d PEM blocks, want certificate, CA, key:\n%s", len(blocks), got)
	}
	pair, err := tls.X509KeyPair([]byte(got), []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	caCert, err := x509.ParseCertificate(pair.Certificate[1])
	if err != nil || !caCert.IsCA || pair.Leaf.IsCA {
		t.Fatalf("want the side's certificate first, then the CA's (stunnel's order): %v", err)
	}
	roots.AddCert(caCert)
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if u := pair.Leaf.URIs; len(u) != 1 || u[0].String() != "tend://production/link/mongo/client/web1" {
		t.Fatalf("identity %v", u)
	}
}
