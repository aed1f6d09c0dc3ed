package tunnel

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/testenv"
)

// stunnel starts stunnel4 (Debian's) with one service section, in
// certificate mode, TLS 1.3 only, and returns when it listens on accept.
func stunnel(t *testing.T, ca *CA, identity, accept, section string) {
	t.Helper()
	bin, err := exec.LookPath("stunnel4")
	testenv.Need(t, "stunnel4 (apt-get install stunnel4)", err)
	dir := t.TempDir()
	is, err := ca.Issue(identity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(ca.PEM), 0o644)
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte(is.Cert), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte(is.Key), 0o600)
	conf := fmt.Sprintf(`foreground = yes
pid =
debug = info
[link]
accept = %s
cert = %s/cert.pem
key = %s/key.pem
CAfile = %s/ca.pem
verifyChain = yes
sslVersionMin = TLSv1.3
%s
`, accept, dir, dir, dir, section)
	os.WriteFile(filepath.Join(dir, "stunnel.conf"), []byte(conf), 0o644)
	cmd := exec.Command(bin, filepath.Join(dir, "stunnel.conf"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("stunnel4:\n%s", out)
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", accept)
		if err == nil {
			c.Close()
			return
		}
		if i == 200 {
			t.Fatalf("stunnel4 does not listen on %s:\n%s", accept, out)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestStunnelPeers: stunnel4 in certificate mode, with a certificate of
// the environment's CA, as the client of a tend server side and as the
// server of a tend client side, checking tend's side by the DNS name in
// its certificate; and stunnel4 with another link's certificate is refused
// by tend.
func TestStunnelPeers(t *testing.T) {
	ca := newCA(t)
	svc := echo(t)
	sid, cid := Identity("production", "mongo", Server, ""), Identity("production", "mongo", Client, "web1")

	t.Run("stunnel client, tend server", func(t *testing.T) {
		l := startLink(t, ca, "mongo", svc, time.Now())
		accept := freePort(t)
		stunnel(t, ca, cid, accept, "client = yes\nconnect = "+l.server.Listen+"\ncheckHost = "+DNSName(sid))
		_, rw := dialLocal(t, accept)
		if err := roundTrip(t, rw, "through stunnel then tend"); err != nil {
			t.Fatal(err)
		}
		// stunnel with the redis link's client certificate: tend refuses.
		other := freePort(t)
		stunnel(t, ca, Identity("production", "redis", Client, "web1"), other, "client = yes\nconnect = "+l.server.Listen)
		_, rw = dialLocal(t, other)
		if err := roundTrip(t, rw, "other link"); err == nil {
			t.Fatal("tend's server let in stunnel with another link's certificate")
		}
	})

	t.Run("tend client, stunnel server", func(t *testing.T) {
		l := startLink(t, ca, "mongo", svc, time.Now())
		// The stunnel server takes the tend server's place.
		accept := freePort(t)
		stunnel(t, ca, sid, accept, "connect = "+svc+"\ncheckHost = "+DNSName(cid))
		l.client.Dial = accept
		if err := Probe(context.Background(), l.client); err != nil {
			t.Fatalf("tend client against stunnel: %v", err)
		}
		dir := t.TempDir()
		c := *l.client
		c.Listen, c.Status = freePort(t), filepath.Join(dir, "health.json")
		serve(t, &c, nil)
		_, rw := dialLocal(t, c.Listen)
		if err := roundTrip(t, rw, "through tend then stunnel"); err != nil {
			t.Fatal(err)
		}
		// A tend client of another host: stunnel's checkHost refuses it.
		wrong := freePort(t)
		stunnel(t, ca, sid, wrong, "connect = "+svc+"\ncheckHost = "+DNSName(Identity("production", "mongo", Client, "web2")))
		c2 := *l.client
		c2.Dial = wrong
		if err := Probe(context.Background(), &c2); err == nil {
			// TLS 1.3: the server's verdict comes after the client's
			// handshake; a carried connection must fail.
			c2.Listen, c2.Status = freePort(t), filepath.Join(dir, "health2.json")
			serve(t, &c2, nil)
			_, rw := dialLocal(t, c2.Listen)
			if err := roundTrip(t, rw, "wrong host"); err == nil {
				t.Fatal("stunnel's checkHost let in another host's tend client")
			}
		}
	})
}
