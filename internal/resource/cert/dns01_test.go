package cert_test

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"tend/internal/dns/dnstest"
	"tend/internal/lab/labtest"
	"tend/internal/resource/cert/certtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestDNS01 issues a wildcard certificate through DNS-01 on a lab host,
// against a real Pebble that validates by asking a real Knot: the host
// writes the challenge records through RFC 2136 with the zone's TSIG key
// and removes them after. No nginx is needed; the key is readable by
// root only on the host and absent from certificate.json; the plan after
// the apply is empty. When the certificate leaves the spec, the
// credentials leave the host.
func TestDNS01(t *testing.T) {
	l := labtest.New(t, 1)
	gw := l.State.Gateway()
	k := dnstest.Start(t, "tend.test", "", dnstest.Listen(gw))
	pb := certtest.StartPebble(t, gw, l.Host(t, "host1").Addr, certtest.Options{DNSServer: k.Addr})
	item := resourcetest.Item(spec.KindCertificate, "wild", &spec.Certificate{
		Names: []string{"*.tend.test", "tend.test"}, Directory: pb.Directory, Challenge: "dns-01", CARoots: pb.TLSRoot,
		DNS: &spec.CertDNS{Zone: "tend.test", Provider: spec.DNSRFC2136, Server: k.Addr, KeyName: k.KeyName, KeyAlgorithm: k.KeyAlg,
			Credentials: map[string]string{"key_secret": k.Secret}}})
	item.Sensitive = true
	resourcetest.Converge(t, l, "host1", resourcetest.State{Name: "issued", Resources: []wire.Item{item}, Check: func(t *testing.T) {
		b, _ := pem.Decode([]byte(l.MustEnter(t, "host1", "cat", "/etc/tend/certs/wild/fullchain.pem")))
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
		if got := strings.TrimSpace(l.MustEnter(t, "host1", "stat", "-c", "%a %U", "/etc/tend/certs/wild/dns.json")); got != "600 root" {
			t.Errorf("dns.json: mode and owner %q, want 600 root", got)
		}
		if conf := l.MustEnter(t, "host1", "cat", "/etc/tend/certs/wild/certificate.json"); strings.Contains(conf, k.Secret) {
			t.Errorf("certificate.json (world-readable) holds the TSIG key:\n%s", conf)
		}
		if got := k.Lookup(t, "_acme-challenge", "TXT"); len(got) != 0 {
			t.Errorf("the challenge records were left in the zone: %q", got)
		}
	}}, resourcetest.State{Name: "removed", Check: func(t *testing.T) {
		if _, err := l.Enter(t, "host1", "test", "-e", "/etc/tend/certs/wild/dns.json"); err == nil {
			t.Errorf("the zone's credentials stayed on the host after the certificate left the spec")
		}
		l.MustEnter(t, "host1", "test", "-e", "/etc/tend/certs/wild/privkey.pem")
	}})
}
