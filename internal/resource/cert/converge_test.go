package cert_test

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/resource/cert/certtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestConverge runs the convergence suite on a lab host against a real
// Pebble: a certificate issued, then its name set changed (a new
// certificate, for exactly the new names), then its key type, then
// removed by omission.
func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	pb := certtest.StartPebble(t, l.State.Gateway(), l.Host(t, "host1").Addr, certtest.Options{})
	noDefault := resourcetest.Item(spec.KindAbsent, "/etc/nginx/sites-enabled/default", &spec.Absent{})
	item := func(keyType string, names ...string) wire.Item {
		return resourcetest.Item(spec.KindCertificate, "web", &spec.Certificate{Names: names, Directory: pb.Directory,
			KeyType: keyType, Reload: []string{"nginx"}, CARoots: pb.TLSRoot})
	}
	installed := func(t *testing.T) *x509.Certificate {
		t.Helper()
		b, _ := pem.Decode([]byte(l.MustEnter(t, "host1", "cat", "/etc/tend/certs/web/fullchain.pem")))
		if b == nil {
			t.Fatal("fullchain.pem: no PEM")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	absent := resourcetest.Item(spec.KindCertificate, "web", nil)
	absent.State = wire.Absent
	var first *x509.Certificate
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "issued", Resources: []wire.Item{noDefault, item("", "web.tend.test")}, Check: func(t *testing.T) {
			first = installed(t)
			if !spec.SameNames(first.DNSNames, []string{"web.tend.test"}) || !strings.HasPrefix(first.Issuer.CommonName, "Pebble") {
				t.Errorf("installed: names %v, issuer %q", first.DNSNames, first.Issuer.CommonName)
			}
			if first.NotAfter.Before(time.Now().Add(80 * 24 * time.Hour)) {
				t.Errorf("expires %v: not Pebble's 90 days", first.NotAfter)
			}
		}},
		resourcetest.State{Name: "names changed", Resources: []wire.Item{noDefault, item("", "web.tend.test", "www.web.tend.test")}, Check: func(t *testing.T) {
			c := installed(t)
			if c.SerialNumber.Cmp(first.SerialNumber) == 0 || !spec.SameNames(c.DNSNames, []string{"web.tend.test", "www.web.tend.test"}) {
				t.Errorf("after a name change: serial %x (was %x), names %v", c.SerialNumber, first.SerialNumber, c.DNSNames)
			}
		}},
		resourcetest.State{Name: "key type changed", Resources: []wire.Item{noDefault, item("rsa-2048", "web.tend.test", "www.web.tend.test")}, Check: func(t *testing.T) {
			if c := installed(t); c.PublicKeyAlgorithm != x509.RSA {
				t.Errorf("key %v, want RSA", c.PublicKeyAlgorithm)
			}
		}},
		resourcetest.State{Name: "removed", Resources: []wire.Item{noDefault}, Check: func(t *testing.T) {
			for _, gone := range []string{"/etc/systemd/system/tend-cert-web.timer", "/etc/tend/certs/web/certificate.json", "/etc/nginx/conf.d/tend-acme.conf"} {
				if _, err := l.Enter(t, "host1", "test", "-e", gone); err == nil {
					t.Errorf("%s is still on the host", gone)
				}
			}
			l.MustEnter(t, "host1", "test", "-e", "/etc/tend/certs/web/privkey.pem")
			l.MustEnter(t, "host1", "systemctl", "is-active", "nginx")
		}},
		resourcetest.State{Name: "state absent", Resources: []wire.Item{noDefault, absent}, Check: func(t *testing.T) {
			if _, err := l.Enter(t, "host1", "test", "-e", "/etc/tend/certs/web"); err == nil {
				t.Errorf("state: absent left /etc/tend/certs/web")
			}
		}},
	)
}
