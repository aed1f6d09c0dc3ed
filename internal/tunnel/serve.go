package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tend/internal/atomicfile"
)

// The sides of a link.
const (
	Server = "server"
	Client = "client"
)

// Config is one side of one link, as its daemon reads it.
type Config struct {
	Name string `json:"name"` // the link
	Side string `json:"side"` // Server or Client
	// Listen is where the daemon accepts: a server TLS from its clients,
	// a client clear TCP from local programs.
	Listen string `json:"listen"`
	// Dial is where it connects for each connection: a server to the
	// service, a client (in TLS) to the server.
	Dial     string   `json:"dial"`
	Identity string   `json:"identity"` // its own identity, in its certificate
	Accept   []string `json:"accept"`   // the peer identities it accepts
	// Credentials is the PEM file holding the CA certificate, then the
	// side's certificate, then its key (mode 0600).
	Credentials string `json:"credentials"`
	Status      string `json:"status"` // where the daemon records its health (Health, JSON)
	// Stunnel: stunnel4 runs this side (Debian's StunnelUnit), with the
	// credentials tend writes; no tend daemon runs it.
	Stunnel bool `json:"stunnel,omitempty"`

	path string // the file it was read from, read again on reload
}

// sameEndpoints reports whether two configurations of a link differ at
// most in the peers they accept, which a reload takes in.
func (c *Config) sameEndpoints(o *Config) bool {
	return c.Name == o.Name && c.Side == o.Side && c.Listen == o.Listen && c.Dial == o.Dial &&
		c.Identity == o.Identity && c.Credentials == o.Credentials && c.Status == o.Status
}

// ReloadOnly reports whether changing a link's configuration from old to
// new needs only a reload of its daemon (the accepted peers changed: a
// client host added or removed), not a restart that would close the
// link's open connections.
func ReloadOnly(old, new *Config) bool { return old.sameEndpoints(new) }

// LoadConfig reads a daemon's configuration.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel config: %w", err)
	}
	c := new(Config)
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("tunnel config %s: %w", path, err)
	}
	if c.Side != Server && c.Side != Client {
		return nil, fmt.Errorf("tunnel config %s: side %q is not server or client", path, c.Side)
	}
	c.path = path
	return c, nil
}

// StunnelUnit is the unit of Debian's stunnel4 that runs a side of link
// name: stunnel@NAME.service, reading /etc/stunnel/NAME.conf.
func StunnelUnit(name string) string { return "stunnel@" + name + ".service" }

// CertNotAfter returns the expiry of the side's certificate (the one that
// is not a CA's) in a credentials file, in either order: tend's (CA,
// certificate, key) or stunnel's (certificate, CA, key).
func CertNotAfter(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return time.Time{}, fmt.Errorf("%s: no certificate but the CA's", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && !c.IsCA {
			return c.NotAfter, nil
		}
	}
}

// Health is what a daemon records of itself.
type Health struct {
	Link          string    `json:"link"`
	Side          string    `json:"side"`
	Identity      string    `json:"identity"`
	Started       time.Time `json:"started"`
	Active        int       `json:"active"` // connections open now
	Total         int64     `json:"total"`  // connections carried since start
	LastConnected time.Time `json:"last_connected,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	CertNotAfter  time.Time `json:"cert_not_after"`
	CertSerial    string    `json:"cert_serial"`
	Accept        []string  `json:"accept"` // the peers it accepts now
}

// creds is what a handshake trusts: a loaded credentials file and the
// peers accepted.
type creds struct {
	cert     tls.Certificate
	roots    *x509.CertPool
	notAfter time.Time
	serial   string
	accept   []string
}

func loadCreds(path string) (*creds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel credentials: %w", err)
	}
	ca, rest := pem.Decode(b)
	if ca == nil || ca.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("tunnel credentials %s: no CA certificate first", path)
	}
	caCert, err := x509.ParseCertificate(ca.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tunnel credentials %s: CA: %w", path, err)
	}
	cert, err := tls.X509KeyPair(rest, rest)
	if err != nil {
		return nil, fmt.Errorf("tunnel credentials %s: %w", path, err)
	}
	c := &creds{cert: cert, roots: x509.NewCertPool()}
	c.roots.AddCert(caCert)
	c.notAfter, c.serial = cert.Leaf.NotAfter, cert.Leaf.SerialNumber.Text(16)
	return c, nil
}

// The ALPN protocols: a probe (tend status) completes the handshake and
// closes, without the server dialing the service. A peer offering none
// (stunnel) is carried like a tunnel.
const (
	protoTunnel = "tend-tunnel"
	protoProbe  = "tend-probe"
)

// tlsConfig returns the TLS configuration of one side: TLS 1.3 only,
// mutual authentication against the CA, and a peer accepted only when its
// certificate names one of accept. Certificates are read from cur at each
// handshake, so a reload takes effect for new connections only.
func tlsConfig(side string, cur func() *creds, protos ...string) *tls.Config {
	usage := x509.ExtKeyUsageClientAuth
	if side == Client {
		usage = x509.ExtKeyUsageServerAuth
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the peer sent no certificate")
		}
		leaf, accept := cs.PeerCertificates[0], cur().accept
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: cur().roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		for _, u := range leaf.URIs {
			if slices.Contains(accept, u.String()) {
				return nil
			}
		}
		var names []string
		for _, u := range leaf.URIs {
			names = append(names, u.String())
		}
		return fmt.Errorf("peer certificate is for %v, not this link's peer %v", names, accept)
	}
	c := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		NextProtos:       protos,
		VerifyConnection: verify,
	}
	if side == Server {
		c.ClientAuth = tls.RequireAnyClientCert // verified by VerifyConnection
		// No resumption: every connection shows its certificate; and no
		// ticket records after the handshake, so that the records a
		// reader finds buffered are data (see copyOnce).
		c.SessionTicketsDisabled = true
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cur().cert, nil }
	} else {
		c.InsecureSkipVerify = true // verified by VerifyConnection, against the CA and the server's identity
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cur().cert, nil }
	}
	return c
}

// daemon is one running side of a link.
type daemon struct {
	c     *Config
	creds atomic.Pointer[creds]
	logf  func(string, ...any)

	mu     sync.Mutex
	health Health
	dirty  chan struct{}
}

// Serve runs one side of a link until ctx ends: it listens, then calls
// ready, carries each connection, reloads its credentials whenever reload
// receives (connections already open keep theirs), and records its health
// in c.Status.
func Serve(ctx context.Context, c *Config, reload <-chan struct{}, ready func(), logf func(string, ...any)) error {
	if c.Stunnel {
		return fmt.Errorf("tunnel %s: stunnel4 runs this side (%s), not tend's daemon", c.Name, StunnelUnit(c.Name))
	}
	d := &daemon{c: c, logf: logf, dirty: make(chan struct{}, 1)}
	spareProc()
	cr, err := loadCreds(c.Credentials)
	if err != nil {
		return err
	}
	cr.accept = c.Accept
	d.creds.Store(cr)
	d.health = Health{Link: c.Name, Side: c.Side, Identity: c.Identity, Started: time.Now().UTC(), CertNotAfter: cr.notAfter, CertSerial: cr.serial, Accept: cr.accept}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("tunnel %s: %w", c.Name, err)
	}
	defer ln.Close()
	go func() { <-ctx.Done(); ln.Close() }()
	var rec sync.WaitGroup
	rec.Add(1)
	go func() { defer rec.Done(); d.recorder(ctx) }()
	defer rec.Wait() // no write of the health file after Serve returned
	d.changed()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				cr, err := loadCreds(c.Credentials)
				if err != nil {
					d.fail("reload: %v", err)
					continue
				}
				cr.accept = d.creds.Load().accept
				if c.path != "" {
					switch nc, err := LoadConfig(c.path); {
					case err != nil:
						d.fail("reload: %v", err)
					case !c.sameEndpoints(nc):
						d.fail("reload: the link's addresses changed in %s: a restart takes them in", c.path)
					default:
						cr.accept = nc.Accept
					}
				}
				d.creds.Store(cr)
				d.mu.Lock()
				d.health.CertNotAfter, d.health.CertSerial, d.health.Accept = cr.notAfter, cr.serial, cr.accept
				d.mu.Unlock()
				d.changed()
				logf("tunnel %s: credentials reloaded, certificate %s valid until %s", c.Name, cr.serial, cr.notAfter.Format(time.RFC3339))
			}
		}
	}()
	if ready != nil {
		ready()
	}
	logf("tunnel %s (%s): listening on %s, to %s", c.Name, c.Side, c.Listen, c.Dial)
	var tc *tls.Config
	if c.Side == Server {
		tc = tlsConfig(Server, d.creds.Load, protoTunnel, protoProbe)
	} else {
		tc = tlsConfig(Client, d.creds.Load, protoTunnel)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tunnel %s: accept: %w", c.Name, err)
		}
		go d.handle(ctx, conn, tc)
	}
}

func (d *daemon) handle(ctx context.Context, in net.Conn, tc *tls.Config) {
	defer in.Close()
	var local, remote net.Conn
	var raw *rawConn
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if d.c.Side == Server {
		raw = newRawConn(in)
		t := tls.Server(raw, tc)
		if err := t.HandshakeContext(hctx); err != nil {
			d.fail("refused %s: %v", in.RemoteAddr(), err)
			return
		}
		if t.ConnectionState().NegotiatedProtocol == protoProbe {
			t.Close() // close_notify: the probe reads its end of file
			return
		}
		out, err := dialer.DialContext(ctx, "tcp", d.c.Dial)
		if err != nil {
			d.fail("service %s: %v", d.c.Dial, err)
			return
		}
		local, remote = out, t
	} else {
		out, err := dialer.DialContext(hctx, "tcp", d.c.Dial)
		if err != nil {
			d.fail("server %s: %v", d.c.Dial, err)
			return
		}
		raw = newRawConn(out)
		t := tls.Client(raw, tc)
		if err := t.HandshakeContext(hctx); err != nil {
			out.Close()
			d.fail("server %s: %v", d.c.Dial, err)
			return
		}
		local, remote = in, t
	}
	defer local.Close()
	defer remote.Close()
	d.mu.Lock()
	d.health.Active++
	d.health.Total++
	d.health.LastConnected = time.Now().UTC()
	d.mu.Unlock()
	d.changed()
	defer awake()()
	pipe(local, remote, raw)
	d.mu.Lock()
	d.health.Active--
	d.mu.Unlock()
	d.changed()
}

// rawConn is the TCP connection under a TLS one. Reads are buffered: TLS
// reads a record in pieces, and a syscall per piece was most of the cost
// of a stream. Between begin and flush, writes are gathered: the records
// of one TLS Write leave in one syscall. A read returns what is there, and
// flush ends every batch, so neither waits for more data.
type rawConn struct {
	net.Conn
	r        *bufio.Reader
	mu       sync.Mutex
	batching bool
	pending  []byte
}

func newRawConn(c net.Conn) *rawConn { return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 128<<10)} }

func (c *rawConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// maxRecord is the most plaintext a TLS record holds.
const maxRecord = 16 << 10

// recordReady reports whether a whole TLS record is buffered, so that
// reading it does not wait for the network.
func (c *rawConn) recordReady() bool {
	if c.r.Buffered() < 5 {
		return false // Peek would wait
	}
	hdr, err := c.r.Peek(5)
	if err != nil {
		return false
	}
	return c.r.Buffered() >= 5+(int(hdr[3])<<8|int(hdr[4]))
}

func (c *rawConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

func (c *rawConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

type closeWriter interface{ CloseWrite() error }

var buffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// pipe copies both ways between local (clear TCP) and remote (TLS over
// raw) until both directions ended, passing on each half-close, so that a
// protocol reading to end of file works.
func pipe(local, remote net.Conn, raw *rawConn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn, raw, srcRaw *rawConn) {
		defer wg.Done()
		buf := buffers.Get().(*[]byte)
		defer buffers.Put(buf)
		err := copyOnce(dst, src, *buf, raw, srcRaw)
		if cw, ok := dst.(closeWriter); ok && err == nil {
			cw.CloseWrite()
		} else {
			// An error one way ends the other way too.
			local.Close()
			remote.Close()
		}
	}
	wg.Add(2)
	go cp(remote, local, raw, nil)
	go cp(local, remote, nil, raw)
	wg.Wait()
}

// copyOnce copies src to dst until src ends; with raw, each write to dst
// (TLS over raw) leaves in one batch.
func copyOnce(dst, src net.Conn, buf []byte, raw, srcRaw *rawConn) error {
	for {
		n, err := src.Read(buf)
		for err == nil && srcRaw != nil && n+maxRecord <= len(buf) && srcRaw.recordReady() {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if raw != nil {
				raw.begin()
			}
			_, werr := dst.Write(buf[:n])
			if raw != nil {
				if ferr := raw.flush(); werr == nil {
					werr = ferr
				}
			}
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d *daemon) fail(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	d.logf("tunnel %s: %s", d.c.Name, msg)
	d.mu.Lock()
	d.health.LastError, d.health.LastErrorTime = msg, time.Now().UTC()
	d.mu.Unlock()
	d.changed()
}

func (d *daemon) changed() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// recorder writes the health file when it changed, at most every 200ms:
// a burst of connections costs one write.
func (d *daemon) recorder(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
		}
		d.mu.Lock()
		b, _ := json.MarshalIndent(d.health, "", "  ")
		d.mu.Unlock()
		if d.c.Status != "" {
			if err := atomicfile.Write(d.c.Status, append(b, '\n'), 0o644); err != nil {
				d.logf("tunnel %s: record health: %v", d.c.Name, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Probe completes a handshake with the server of a client side's link,
// with the side's credentials, and waits for the server's verdict on them:
// whether the link can connect now. The server does not dial the service
// for a probe.
func Probe(ctx context.Context, c *Config) error {
	cr, err := loadCreds(c.Credentials)
	if err != nil {
		return err
	}
	cr.accept = c.Accept
	tc := tlsConfig(Client, func() *creds { return cr }, protoProbe)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := &tls.Dialer{Config: tc, NetDialer: &net.Dialer{}}
	conn, err := d.DialContext(ctx, "tcp", c.Dial)
	if err != nil {
		return err
	}
	defer conn.Close()
	// In TLS 1.3 the server judges the client's certificate after the
	// client's handshake is done: its verdict is the first read, an end of
	// file (accepted: tend's server closes a probe), an alert (refused),
	// or nothing (accepted by a server that waits for data: stunnel).
	conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case err == io.EOF, errors.As(err, &ne) && ne.Timeout():
		return nil
	case err == nil:
		return errors.New("the server sent data to a probe")
	}
	return err
}

// ReadHealth reads what a daemon recorded.
func ReadHealth(path string) (*Health, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h := new(Health)
	return h, json.Unmarshal(b, h)
}
