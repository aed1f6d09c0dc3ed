// Package dnstest runs a real DNS server for tests: Knot (knotd, Debian's
// package knot) on a free loopback port (or on a lab's gateway), serving one zone and accepting
// TSIG-signed dynamic updates (RFC 2136) and zone transfers, and queries
// it. Without knotd the test is skipped, or fails when TEND_REQUIRE_REAL=1.
package dnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"tend/internal/testenv"
)

// Knot is a running knotd.
type Knot struct {
	Addr    string // 127.0.0.1:PORT
	Zone    string // without the final dot
	KeyName string
	KeyAlg  string // hmac-sha256
	Secret  string // the TSIG key, base64

	stop func()
}

// Stop stops knotd now (a test of a server that is down).
func (k *Knot) Stop(t testing.TB) { k.stop() }

// Option changes the server Start runs.
type Option func(*options)

type options struct {
	transferOnly bool
	host         string
}

// TransferOnly: the key may read the zone (AXFR) but not update it, as a
// server whose ACL was changed between plan and apply.
func TransferOnly(o *options) { o.transferOnly = true }

// Listen: knotd listens on host (an address of a network the test made,
// such as a lab's gateway) instead of 127.0.0.1.
func Listen(host string) Option { return func(o *options) { o.host = host } }

// Start runs knotd serving zone with the records of zonefile (zone-file
// lines after the SOA and NS, relative to the zone), stopped at the end
// of the test. Its key may update and transfer the zone; nothing else may.
func Start(t testing.TB, zone string, zonefile string, opts ...Option) *Knot {
	t.Helper()
	bin, err := exec.LookPath("knotd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/knotd"); e == nil {
			bin, err = "/usr/sbin/knotd", nil
		}
	}
	testenv.Need(t, "knotd (Debian package knot)", err)
	o := options{host: "127.0.0.1"}
	for _, f := range opts {
		f(&o)
	}
	dir := t.TempDir()
	port, err := freePort(o.host)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	k := &Knot{Addr: net.JoinHostPort(o.host, strconv.Itoa(port)), Zone: zone, KeyName: "tend-test", KeyAlg: "hmac-sha256",
		Secret: base64.StdEncoding.EncodeToString(secret)}
	// Knot needs its database directory, or updates fail with SERVFAIL.
	for _, d := range []string{"db", "zones", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	z := fmt.Sprintf("$ORIGIN %s.\n$TTL 300\n@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n@ NS ns.%s.\nns A 127.0.0.1\n%s\n", zone, zone, zone, zone, zonefile)
	if err := os.WriteFile(filepath.Join(dir, "zones", zone+".zone"), []byte(z), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s/run"
    listen: %[7]s@%[2]d
control:
    listen: "%[1]s/run/knot.sock"
database:
    storage: "%[1]s/db"
log:
  - target: stderr
    any: info
key:
  - id: %[3]s
    algorithm: %[4]s
    secret: %[5]s
acl:
  - id: tend
    key: %[3]s
    action: [update, transfer]
template:
  - id: default
    storage: "%[1]s/zones"
    file: "%%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: %[6]s.
    acl: tend
`, dir, port, k.KeyName, k.KeyAlg, k.Secret, zone, o.host)
	if o.transferOnly {
		conf = strings.Replace(conf, "action: [update, transfer]", "action: [transfer]", 1)
	}
	cf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logb bytes.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	k.stop = func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		k.stop()
		if t.Failed() {
			t.Logf("knotd's log:\n%s", logb.String())
		}
	})
	// Ready when it answers for the zone: asked again until then, or
	// until knotd exits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if _, err := k.query(ctx, zone+".", mdns.TypeSOA); err == nil {
			return k
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("knotd exited: %v\n%s", err, logb.String())
		case <-ctx.Done():
			t.Fatalf("knotd did not answer for %s on %s\n%s", zone, k.Addr, logb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns a port free on host for both TCP and UDP now.
func freePort(host string) (int, error) {
	for range 20 {
		p, err := testenv.FreePort(host)
		if err != nil {
			return 0, err
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			u.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port for TCP and UDP on %s", host)
}

func (k *Knot) query(ctx context.Context, name string, typ uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), typ)
	c := &mdns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, k.Addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError {
		return nil, fmt.Errorf("%s: %s", name, mdns.RcodeToString[r.Rcode])
	}
	return r, nil
}

// Lookup asks Knot for the records of name (relative to the zone, "@"
// its apex) and type, and returns their data as the zone file writes it
// (TXT strings quoted), sorted; none when there are none.
func (k *Knot) Lookup(t testing.TB, name, typ string) []string {
	t.Helper()
	fq := k.Zone + "."
	if name != "@" {
		fq = name + "." + fq
	}
	r, err := k.query(context.Background(), fq, mdns.StringToType[typ])
	if err != nil {
		t.Fatalf("query %s %s: %v", fq, typ, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if mdns.TypeToString[rr.Header().Rrtype] != typ {
			continue
		}
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	slices.Sort(out)
	return out
}
