package cert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/spec"
	"tend/internal/wire"
)

// caSigned writes into dir a certificate for names signed by a throwaway
// CA (not self-signed: what a CA issues), valid until notAfter.
func caSigned(t *testing.T, dir string, names []string, notAfter time.Time) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, FullchainFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
}

func TestNeedAndStatus(t *testing.T) {
	now := time.Now()
	names := []string{"example.org", "www.example.org"}
	c, err := New("www", &spec.Certificate{Names: names})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir string)
		need    string // a fragment of why a certificate is needed; "" none
		problem string // a fragment of the status problem; "" none
	}{
		{"missing", func(*testing.T, string) {}, "none yet", "no certificate"},
		{"placeholder", func(t *testing.T, dir string) {
			chain, key, err := placeholder("www", names, now)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, FullchainFile), chain, 0o644)
			os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600)
		}, "placeholder", "placeholder"},
		{"valid", func(t *testing.T, dir string) {
			caSigned(t, dir, []string{"www.example.org", "example.org"}, now.Add(60*24*time.Hour))
		}, "", ""},
		{"other names", func(t *testing.T, dir string) { caSigned(t, dir, []string{"example.org"}, now.Add(60*24*time.Hour)) }, "for example.org", "not for the names declared"},
		{"due", func(t *testing.T, dir string) { caSigned(t, dir, names, now.Add(20*24*time.Hour)) }, "renew_before 30d", ""},
		{"expiring", func(t *testing.T, dir string) { caSigned(t, dir, names, now.Add(13*24*time.Hour)) }, "expires", "less than 14 days"},
		{"expired", func(t *testing.T, dir string) { caSigned(t, dir, names, now.Add(-time.Hour)) }, "expires", "EXPIRED"},
		{"key mismatch", func(t *testing.T, dir string) {
			caSigned(t, dir, names, now.Add(60*24*time.Hour))
			_, key, _ := placeholder("www", names, now)
			os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600)
		}, "unusable", "is not the key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			in, err := readInstalled(dir)
			if err != nil {
				t.Fatal(err)
			}
			why := c.need(in)
			if (tc.need == "") != (why == "") || !strings.Contains(why, tc.need) {
				t.Errorf("need: %q, want %q", why, tc.need)
			}
			st := wire.CertStatus{Name: "www"}
			check(&st, dir, names, now)
			if (tc.problem == "") != (st.Problem == "") || !strings.Contains(st.Problem, tc.problem) {
				t.Errorf("status problem: %q, want %q", st.Problem, tc.problem)
			}
		})
	}
}

func TestPlaceholderIsAPairForTheNames(t *testing.T) {
	dir := t.TempDir()
	chain, key, err := placeholder("www", []string{"a.example.org", "b.example.org"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := install(dir, chain, key, nil); err != nil {
		t.Skipf("install needs root (chown): %v", err)
	}
	in, err := readInstalled(dir)
	if err != nil || in == nil || in.problem != "" || !in.placeholder {
		t.Fatalf("placeholder read back: %+v, %v", in, err)
	}
	if err := in.leaf.VerifyHostname("b.example.org"); err != nil {
		t.Errorf("placeholder not for its names: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, KeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
}

func TestDefaultServerRE(t *testing.T) {
	for conf, want := range map[string]bool{
		"listen 80 default_server;":                     true,
		"    listen [::]:80 default_server;":            true,
		"listen 0.0.0.0:80 default_server ipv6only=on;": true,
		"listen 80;":                     false,
		"listen 443 ssl default_server;": false,
		"listen 8080 default_server;":    false,
	} {
		if got := defaultServerRE.MatchString(conf); got != want {
			t.Errorf("%q: %v, want %v", conf, got, want)
		}
	}
	// A commented-out default_server is none.
	dir := t.TempDir()
	old := nginxConfigs
	defer func() { nginxConfigs = old }()
	nginxConfigs = []string{filepath.Join(dir, "*")}
	os.WriteFile(filepath.Join(dir, "a"), []byte("server {\n  # listen 80 default_server;\n  listen 80;\n}\n"), 0o644)
	if f := otherDefault(); f != "" {
		t.Errorf("otherDefault: %q, want none", f)
	}
	os.WriteFile(filepath.Join(dir, "b"), []byte("server {\n  listen [::]:80 default_server;\n}\n"), 0o644)
	if f := otherDefault(); f != filepath.Join(dir, "b") {
		t.Errorf("otherDefault: %q, want b", f)
	}
}
