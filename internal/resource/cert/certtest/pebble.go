// Package certtest starts Pebble, the ACME test server, and
// pebble-challtestsrv, its DNS server, for tests: real ACME protocol, real
// HTTP-01 validation against a lab host. The binaries come from
// scripts/acmeservers (go install); a missing one goes through
// testenv.Need: a skip on a developer's machine, a failure under
// TEND_REQUIRE_REAL=1.
package certtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"tend/internal/testenv"
)

// Pebble is a running Pebble with its DNS server.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// TLSRoot is the PEM root of Pebble's own HTTPS (its listener and
	// management port): what a certificate's ca_roots gives.
	TLSRoot string

	t                   testing.TB
	bin, dir            string
	addr, mgmt, dnsAddr string
	validity            int
	pool                *x509.CertPool
	mu                  sync.Mutex
	cmd                 *exec.Cmd
	log                 *testenv.Output
}

// Options says how Pebble runs.
type Options struct {
	// Validity is the issued certificates' lifetime; default 90 days.
	Validity time.Duration
	// Defer: the caller starts Pebble itself (Start), later; the address
	// and directory are fixed already.
	Defer bool
	// DNSServer, when set, is the DNS server Pebble asks (HOST:PORT):
	// a real one serving the zone of DNS-01 challenges.
	DNSServer string
}

// StartPebble starts pebble-challtestsrv answering every A query with
// target (a lab host's address), and Pebble using it, both listening on
// host (the lab's gateway), with a TLS certificate made for host. They
// stop when the test ends.
func StartPebble(t testing.TB, host, target string, o Options) *Pebble {
	t.Helper()
	pebble, err := testenv.GoBinary("pebble")
	testenv.Need(t, "pebble (install with scripts/acmeservers)", err)
	chall, err := testenv.GoBinary("pebble-challtestsrv")
	testenv.Need(t, "pebble-challtestsrv (install with scripts/acmeservers)", err)
	if o.Validity == 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	p := &Pebble{t: t, bin: pebble, dir: t.TempDir(), validity: int(o.Validity.Seconds()), log: &testenv.Output{}}
	p.addr = net.JoinHostPort(host, freePort(t, host))
	p.mgmt = net.JoinHostPort(host, freePort(t, host))
	p.dnsAddr = net.JoinHostPort(host, freePort(t, host))
	p.Directory = "https://" + p.addr + "/dir"
	p.makeTLS(host)

	dns := exec.Command(chall, "-dnsserver", p.dnsAddr, "-defaultIPv4", target, "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", net.JoinHostPort(host, freePort(t, host)))
	dns.Stdout, dns.Stderr = p.log, p.log
	if err := dns.Start(); err != nil {
		t.Fatalf("pebble-challtestsrv: %v", err)
	}
	t.Cleanup(func() { dns.Process.Kill(); dns.Wait() })
	if o.DNSServer != "" {
		p.dnsAddr = o.DNSServer
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log.String())
		}
	})
	if !o.Defer {
		p.Start()
	}
	return p
}

// Start starts Pebble (again, after Stop: a new CA, new accounts).
func (p *Pebble) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatal("pebble is running already")
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": p.addr, "managementListenAddress": p.mgmt,
		"certificate": filepath.Join(p.dir, "tls.pem"), "privateKey": filepath.Join(p.dir, "tls.key"),
		"httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"profiles": map[string]any{"default": map[string]any{"description": "tend tests", "validityPeriod": p.validity}},
	}}
	data, _ := json.Marshal(conf)
	cf := filepath.Join(p.dir, "pebble.json")
	if err := os.WriteFile(cf, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, "-config", cf, "-dnsserver", p.dnsAddr)
	// No sleeps between validation attempts, no nonces refused on
	// purpose: the test is about tend, not about retrying.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("pebble: %v", err)
	}
	p.cmd = cmd
	client := p.client()
	for i := 0; ; i++ {
		resp, err := client.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if i == 100 {
			p.t.Fatalf("pebble did not answer %s: %v\n%s", p.Directory, err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SetValidity sets the lifetime of the certificates Pebble issues after
// its next Start.
func (p *Pebble) SetValidity(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.validity = int(d.Seconds())
}

// Stop stops Pebble; its DNS server keeps running.
func (p *Pebble) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
}

// IssuingRoot returns the root Pebble issues under now (GET /roots/0 on
// its management port): what a client trusts to verify what it issued.
func (p *Pebble) IssuingRoot() *x509.CertPool {
	p.t.Helper()
	pool := x509.NewCertPool()
	if data := p.IssuingRootPEM(); !pool.AppendCertsFromPEM([]byte(data)) {
		p.t.Fatalf("pebble roots: not PEM: %s", data)
	}
	return pool
}

// IssuingRootPEM is IssuingRoot as PEM, for clients on the lab hosts.
func (p *Pebble) IssuingRootPEM() string {
	p.t.Helper()
	resp, err := p.client().Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		p.t.Fatalf("pebble roots: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("pebble roots: %s: %s", resp.Status, data)
	}
	return string(data)
}

// Log returns what Pebble and its DNS server printed.
func (p *Pebble) Log() string { return p.log.String() }

// makeTLS makes a CA and a certificate of it for host, for Pebble's own
// HTTPS.
func (p *Pebble) makeTLS(host string) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tend test ACME server root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(host)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(p.dir, "tls.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(p.dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	p.TLSRoot = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.pool = x509.NewCertPool()
	p.pool.AddCert(caCert)
}

// Fetch GETs https://name/ from addr:443, trusting only roots, and
// returns the body and the certificate served.
func Fetch(ctx context.Context, addr, name string, roots *x509.CertPool) (string, *x509.Certificate, error) {
	var served *x509.Certificate
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				served = cs.PeerCertificates[0]
			}
			return nil
		}},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort(addr, "443"))
		}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+name+"/", nil)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", served, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), served, nil
}

func freePort(t testing.TB, host string) string {
	port, err := testenv.FreePort(host)
	if err != nil {
		t.Fatalf("free port on %s: %v", host, err)
	}
	return strconv.Itoa(port)
}
