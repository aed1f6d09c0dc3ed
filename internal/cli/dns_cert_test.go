package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/dns/dnstest"
	"tend/internal/lab/labtest"
	"tend/internal/resource/cert/certtest"
	"tend/internal/spec"
)

// TestDNS01Apply: a wildcard certificate as a user declares it, through
// tend apply on a lab rehearsal: the environment's zone is on a Knot of
// the lab's network, its TSIG key a secret that only the zone names;
// Pebble validates by asking that Knot. The same apply writes the zone's
// declared record. A zone at a real provider is refused in a rehearsal,
// before any host changes.
func TestDNS01Apply(t *testing.T) {
	l := labtest.New(t, 1)
	gw := l.State.Gateway()
	k := dnstest.Start(t, "tend.test", "", dnstest.Listen(gw))
	pb := certtest.StartPebble(t, gw, l.Host(t, "host1").Addr, certtest.Options{DNSServer: k.Addr})
	e := newSecretEnv(t)
	e.forLab()
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok(k.Secret+"\n", "secret", "set", "production", "vault_dns_tsig", "--recipient", pub)
	var roots strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(pb.TLSRoot), "\n") {
		roots.WriteString("      " + line + "\n")
	}
	zone := "  tend.test:\n    provider: rfc2136\n    server: " + k.Addr + "\n    key_name: " + k.KeyName + "\n    key_secret: vault_dns_tsig\n    records: ['www A 192.0.2.1']\n"
	write := func(zone string) {
		for name, text := range map[string]string{
			"tend.yaml":                    "name: dns\n",
			"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [web]}\ndns:\n" + zone,
			"roles/web/role.yaml": "resources:\n  - directory: /srv/www\n  - certificate: wild\n    names: ['*.tend.test', tend.test]\n    challenge: dns-01\n    directory: " +
				pb.Directory + "\n    ca_roots: |\n" + roots.String(),
		} {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			if err := os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}

	write("  tend.test:\n    provider: gandi\n    token: vault_dns_tsig\n")
	e.fails(1, "", append([]string{"apply", "production"}, lab...), "host host1: certificate:wild: challenge dns-01 through dns zone tend.test (gandi): a lab rehearsal never touches a real provider")
	l.Run(t, "host1", "test ! -e /srv/www")

	write(zone)
	out := e.ok("", append([]string{"apply", "production"}, lab...)...)
	if !strings.Contains(out, "certificate:wild") || !strings.Contains(out, "+ www A 300 192.0.2.1") || strings.Contains(out, k.Secret) {
		t.Errorf("apply: no certificate or record, or the TSIG key shown:\n%s", out)
	}
	b, _ := pem.Decode([]byte(l.Run(t, "host1", "cat /etc/tend/certs/wild/fullchain.pem")))
	if b == nil {
		t.Fatal("fullchain.pem: no PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.SameNames(c.DNSNames, []string{"*.tend.test", "tend.test"}) || !strings.HasPrefix(c.Issuer.CommonName, "Pebble") {
		t.Errorf("installed: names %v, issuer %q", c.DNSNames, c.Issuer.CommonName)
	}
	if got := k.Lookup(t, "www", "A"); len(got) != 1 {
		t.Errorf("www A: %q", got)
	}
	e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing left to change
}
