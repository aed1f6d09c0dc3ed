package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newCA(t *testing.T) *CA {
	t.Helper()
	seed := make([]byte, 32)
	rand.Read(seed)
	ca, err := NewCA(seed, "production")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestIssueDeterministic: within one period the same certificate and key
// come out (so a plan shows no change); the next period gives new ones,
// valid a week longer; another identity gets another key.
func TestIssueDeterministic(t *testing.T) {
	ca := newCA(t)
	id := Identity("production", "mongo", Server, "")
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	a, err := ca.Issue(id, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ca.Issue(id, now.Add(time.Hour))
	if a.Cert != b.Cert || a.Key != b.Key {
		t.Fatal("two issues in one period differ")
	}
	ca2, _ := NewCA(ca.seed, "production")
	if ca2.PEM != ca.PEM {
		t.Fatal("the CA certificate is not the same from the same seed")
	}
	c, _ := ca.Issue(id, now.Add(Period))
	if c.Cert == a.Cert || c.Key == a.Key || !c.NotAfter.Equal(a.NotAfter.Add(Period)) {
		t.Fatalf("next period: same material or NotAfter %s (was %s)", c.NotAfter, a.NotAfter)
	}
	if left := a.NotAfter.Sub(now); left < Lifetime-Period {
		t.Fatalf("a fresh certificate has only %s left", left)
	}
	o, _ := ca.Issue(Identity("production", "redis", Server, ""), now)
	if o.Key == a.Key {
		t.Fatal("two links share a key")
	}
}

type link struct {
	dir            string
	server, client *Config
	reloadS        chan struct{}
	reloadC        chan struct{}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeCreds(t *testing.T, ca *CA, path, id string, now time.Time) {
	t.Helper()
	is, err := ca.Issue(id, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(ca.PEM+is.Cert+is.Key), 0o600); err != nil {
		t.Fatal(err)
	}
}

// echo serves a line echo on loopback and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

func startLink(t *testing.T, ca *CA, name, service string, now time.Time) *link {
	t.Helper()
	dir := t.TempDir()
	sid, cid := Identity("production", name, Server, ""), Identity("production", name, Client, "web1")
	l := &link{dir: dir, reloadS: make(chan struct{}), reloadC: make(chan struct{})}
	l.server = &Config{Name: name, Side: Server, Listen: freePort(t), Dial: service, Identity: sid, Accept: []string{cid},
		Credentials: filepath.Join(dir, "server.pem"), Status: filepath.Join(dir, "server.json")}
	l.client = &Config{Name: name, Side: Client, Listen: freePort(t), Dial: l.server.Listen, Identity: cid, Accept: []string{sid},
		Credentials: filepath.Join(dir, "client.pem"), Status: filepath.Join(dir, "client.json")}
	writeCreds(t, ca, l.server.Credentials, sid, now)
	writeCreds(t, ca, l.client.Credentials, cid, now)
	serve(t, l.server, l.reloadS)
	serve(t, l.client, l.reloadC)
	return l
}

// serve runs a daemon until the test ends (then stops it and waits for
// it), and returns once it listens.
func serve(t *testing.T, c *Config, reload chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if err := Serve(ctx, c, reload, func() { close(ready) }, t.Logf); err != nil {
			t.Error(err)
			close(ready)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-ready
}

func roundTrip(t *testing.T, rw *bufio.ReadWriter, msg string) error {
	t.Helper()
	if _, err := rw.WriteString(msg + "\n"); err != nil {
		return err
	}
	if err := rw.Flush(); err != nil {
		return err
	}
	got, err := rw.ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg+"\n" {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

func dialLocal(t *testing.T, addr string) (net.Conn, *bufio.ReadWriter) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
}

// TestTunnelCarriesAndRenews: an echo through the link; a renewed
// certificate is loaded on reload while a connection made before stays
// open and keeps working; new connections get the new certificate.
func TestTunnelCarriesAndRenews(t *testing.T) {
	ca := newCA(t)
	// The certificates of last period, still valid, renewed to this one's.
	now := time.Now()
	l := startLink(t, ca, "mongo", echo(t), now.Add(-Period))
	_, old := dialLocal(t, l.client.Listen)
	if err := roundTrip(t, old, "before renewal"); err != nil {
		t.Fatal(err)
	}
	if err := Probe(context.Background(), l.client); err != nil {
		t.Fatalf("probe: %v", err)
	}
	h0, _ := ReadHealth(l.server.Status)

	writeCreds(t, ca, l.server.Credentials, l.server.Identity, now)
	writeCreds(t, ca, l.client.Credentials, l.client.Identity, now)
	l.reloadS <- struct{}{}
	l.reloadC <- struct{}{}
	if err := roundTrip(t, old, "after renewal, same connection"); err != nil {
		t.Fatalf("the connection opened before the renewal: %v", err)
	}
	_, fresh := dialLocal(t, l.client.Listen)
	if err := roundTrip(t, fresh, "new connection"); err != nil {
		t.Fatal(err)
	}
	// The server now presents the renewed certificate.
	cr, _ := loadCreds(l.client.Credentials)
	var seen *x509.Certificate
	cr.accept = l.client.Accept
	tc := tlsConfig(Client, func() *creds { return cr }, protoProbe)
	tc.VerifyConnection = func(cs tls.ConnectionState) error { seen = cs.PeerCertificates[0]; return nil }
	c, err := tls.Dial("tcp", l.server.Listen, tc)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if seen.NotAfter.Equal(h0.CertNotAfter) || !seen.NotAfter.Equal(cr.notAfter) {
		t.Fatalf("server certificate after reload valid until %s; before %s", seen.NotAfter, h0.CertNotAfter)
	}
}

// TestTunnelRefuses: a client with no certificate, with a certificate of
// another link of the same CA, or of another CA, is refused by the server
// before the service sees a byte; and a client refuses a server that is
// another link's.
func TestTunnelRefuses(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	svc, hits := countingService(t)
	l := startLink(t, ca, "mongo", svc, now)
	other := startLink(t, ca, "redis", svc, now)

	try := func(name string, cert []tls.Certificate) {
		t.Helper()
		tc := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: cert}
		c, err := tls.Dial("tcp", l.server.Listen, tc)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			// In TLS 1.3 the server's verdict on the client certificate
			// arrives after the client's handshake: read it.
			c.Write([]byte("hello\n"))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: the server accepted", name)
		}
		t.Logf("%s: %v", name, err)
	}
	try("no certificate", nil)
	otherCreds, err := loadCreds(other.client.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	try("another link's client certificate", []tls.Certificate{otherCreds.cert})
	foreign := newCA(t)
	is, _ := foreign.Issue(l.client.Identity, now)
	fc, _ := tls.X509KeyPair([]byte(is.Cert), []byte(is.Key))
	try("this link's identity from another CA", []tls.Certificate{fc})
	if n := hits(); n != 0 {
		t.Fatalf("the service was reached %d times by refused clients", n)
	}
	h, err := ReadHealth(l.server.Status)
	for i := 0; err == nil && h.LastError == "" && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		h, err = ReadHealth(l.server.Status)
	}
	if err != nil || !strings.Contains(h.LastError, "refused") {
		t.Errorf("server health after refusals: %+v, %v", h, err)
	}

	// The mongo client pointed at the redis server: the redis server
	// refuses its certificate, and it refuses the redis server's.
	l.client.Dial = other.server.Listen
	if err := Probe(context.Background(), l.client); err == nil || !strings.Contains(err.Error(), "not this link's peer") {
		t.Fatalf("probe of another link's server: %v", err)
	}
}

func countingService(t *testing.T) (string, func() int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	hits := make(chan struct{}, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			hits <- struct{}{}
			c.Close()
		}
	}()
	return l.Addr().String(), func() int { return len(hits) }
}

// TestReloadPeers: a reload takes in the peers of the configuration file:
// a client host removed from the link is refused at once, before its
// certificate expires, without a restart.
func TestReloadPeers(t *testing.T) {
	ca := newCA(t)
	l := startLink(t, ca, "mongo", echo(t), time.Now())
	c := *l.server
	c.Listen, c.Status = freePort(t), filepath.Join(l.dir, "second.json")
	path := filepath.Join(l.dir, "server.json.conf")
	write := func(accept ...string) {
		c.Accept = accept
		b, _ := json.Marshal(c)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(l.client.Identity)
	loaded, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	reload := make(chan struct{})
	serve(t, loaded, reload)
	client := *l.client
	client.Dial = c.Listen
	if err := Probe(context.Background(), &client); err != nil {
		t.Fatalf("before: %v", err)
	}
	write(Identity("production", "mongo", Client, "web2"))
	reload <- struct{}{} // received: the reload is under way
	var got error
	for i := 0; i < 100 && got == nil; i++ {
		if got = Probe(context.Background(), &client); got == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got == nil || !strings.Contains(got.Error(), "bad certificate") {
		t.Fatalf("a client host removed from the link, after reload: %v", got)
	}
}

// TestTunnelStream: 16 MiB of random bytes, written in uneven pieces, come
// back through the link to an echo byte for byte, and the half-close
// reaches the service (the echo ends, so does the read).
func TestTunnelStream(t *testing.T) {
	l := startLink(t, newCA(t), "stream", echo(t), time.Now())
	c, err := net.Dial("tcp", l.client.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	data := make([]byte, 16<<20)
	rand.Read(data)
	go func() {
		for rest, i := data, 1; len(rest) > 0; i++ {
			n := min(len(rest), i*7919%300000+1)
			if _, err := c.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, want the %d sent, the same", len(got), len(data))
	}
}
