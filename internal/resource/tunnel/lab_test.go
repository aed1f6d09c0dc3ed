package tunnel_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/tunnel"
	"tend/internal/wire"
)

// echoServer is a line echo on 127.0.0.1:9000, the "database" behind the
// tunnels.
const echoServer = `import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", 9000), H).serve_forever()
`

// client connects to argv[1]:argv[2], round-trips "one"; with argv[3], it
// waits for that file to exist and round-trips "two" on the same
// connection. It prints each answer, or what went wrong.
const client = `import socket, sys, os, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
def rt(m):
    s.sendall(m.encode() + b"\n")
    r = b""
    while not r.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            return "closed"
        r += d
    return r.decode().strip()
print(rt("one"), flush=True)
if len(sys.argv) > 3:
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.02)
    print(rt("two"), flush=True)
`

// tlsClient speaks TLS to argv[1]:argv[2], with the certificate and key
// of the PEM file argv[3] (a link's credentials file: CA, certificate,
// key) or none, and prints "accepted: ..." or "refused: ...".
const tlsClient = `import socket, ssl, sys, tempfile
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if len(sys.argv) > 3:
    blocks = open(sys.argv[3]).read().split("-----END ")
    pems = [b + "-----END " + b2.split("\n", 1)[0] + "\n" for b, b2 in zip(blocks, blocks[1:])]
    pems = [p[p.index("-----BEGIN"):] for p in pems]
    f = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
    f.write(pems[1] + pems[2]); f.close()
    ctx.load_cert_chain(f.name)
try:
    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10))
    s.sendall(b"secret\n")
    d = s.recv(100)
    print("accepted: %r" % d if d else "refused: closed")
except Exception as e:
    print("refused: %s" % e)
`

// status returns the tunnels of what the host's agent answers tend status.
func status(t *testing.T, l *labtest.Lab, host string) []wire.TunnelStatus {
	t.Helper()
	var hs wire.HostStatus
	if err := json.Unmarshal([]byte(l.Run(t, host, "/usr/local/lib/tend/tend agent status")), &hs); err != nil {
		t.Fatal(err)
	}
	return hs.Tunnels
}

type tunnelLab struct {
	t    *testing.T
	l    *labtest.Lab
	repo string
	ca   *tunnel.CA
}

func (tl *tunnelLab) role(links string) {
	t := tl.t
	if err := os.WriteFile(filepath.Join(tl.repo, "roles/db/role.yaml"), []byte("resources:\n"+links), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apply compiles the repository for host, issues its certificates as of
// now, and applies it; the plan after it is empty.
func (tl *tunnelLab) apply(host string, now time.Time) plan.Result {
	t := tl.t
	t.Helper()
	r, err := spec.Load(tl.repo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("production", host, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.IssueTunnels(h, tl.ca, now); err != nil {
		t.Fatal(err)
	}
	d, err := plan.Desired(h)
	if err != nil {
		t.Fatal(err)
	}
	res := resourcetest.Run(t, tl.l, host, wire.Apply, d)
	if res.Err != nil {
		journal, _ := tl.l.Enter(t, host, "sh", "-c", "journalctl -u 'tend-tunnel-*' -n 30 --no-pager; cat /var/lib/tend/tunnel/*.json /etc/tend/tunnel/*.json")
		t.Fatalf("apply %s: %v\n%s\n%s", host, res.Err, resourcetest.Describe(res), journal)
	}
	again := resourcetest.Run(t, tl.l, host, wire.Plan, d)
	if again.Err != nil || again.Changed+again.Removed != 0 {
		t.Fatalf("plan on %s after apply: %v\n%s", host, again.Err, resourcetest.Describe(again))
	}
	return res
}

const link = `  - tunnel: %s
    to: 127.0.0.1:9000
    port: %d
    clients: [app]
    listen: 127.0.0.1:%d
`

// TestTunnelLab runs two links from host1 (a database-like echo server on
// its loopback) to host2, on real lab hosts under systemd: traffic flows
// end to end; a client without a certificate (host3), or with the other
// link's certificate, is refused; changing one link does not interrupt
// the other's open connection; a certificate renewal, or a client host
// added to a link, keeps the link's open connections; a link leaving the
// spec leaves both hosts.
func TestTunnelLab(t *testing.T) {
	l := labtest.New(t, 3)
	seed := make([]byte, 32)
	rand.Read(seed)
	ca, err := tunnel.NewCA(seed, "production")
	if err != nil {
		t.Fatal(err)
	}
	tl := &tunnelLab{t: t, l: l, repo: t.TempDir(), ca: ca}
	for _, d := range []string{"environments", "roles/db", "roles/app"} {
		os.MkdirAll(filepath.Join(tl.repo, d), 0o755)
	}
	os.WriteFile(filepath.Join(tl.repo, "tend.yaml"), []byte("name: tunnels\n"), 0o644)
	os.WriteFile(filepath.Join(tl.repo, "environments/production.yaml"), []byte(fmt.Sprintf(`hosts:
  host1: {address: %s, roles: [db]}
  host2: {address: %s, roles: [app]}
  host3: {address: %s}
`, l.Host(t, "host1").Addr, l.Host(t, "host2").Addr, l.Host(t, "host3").Addr)), 0o644)
	os.WriteFile(filepath.Join(tl.repo, "roles/app/role.yaml"), []byte("resources:\n  - directory: /srv/app\n"), 0o644)
	h1 := l.Host(t, "host1").Addr

	for _, h := range []string{"host1", "host2", "host3"} {
		l.Run(t, h, "cat > /root/client.py <<'EOF'\n"+client+"EOF\ncat > /root/tls.py <<'EOF'\n"+tlsClient+"EOF\n")
	}
	l.Run(t, "host1", "cat > /root/echo.py <<'EOF'\n"+echoServer+"EOF\nsystemd-run --unit=echo python3 /root/echo.py && for i in $(seq 100); do python3 /root/client.py 127.0.0.1 9000 2>/dev/null && break; sleep 0.1; done")

	// Last period's certificates, still valid: the renewal below moves
	// to this period's.
	now := time.Now()
	tl.role(fmt.Sprintf(link, "echo", 7000, 9100) + fmt.Sprintf(link, "other", 7001, 9101))
	tl.apply("host1", now.Add(-tunnel.Period))
	tl.apply("host2", now.Add(-tunnel.Period))

	t.Run("end to end", func(t *testing.T) {
		if got := l.Run(t, "host2", "python3 /root/client.py 127.0.0.1 9100; python3 /root/client.py 127.0.0.1 9101"); got != "one\none\n" {
			t.Fatalf("through the tunnels: %q", got)
		}
	})
	t.Run("status", func(t *testing.T) {
		st := status(t, l, "host2")
		if len(st) != 2 || !st[0].Connected || st[0].Problem != "" || st[0].Side != "client" || st[0].CertNotAfter.Before(now) {
			t.Fatalf("host2's tunnels: %+v", st)
		}
		if st := status(t, l, "host1"); len(st) != 2 || !st[0].Connected || st[0].Side != "server" || st[0].LastConnected.IsZero() {
			t.Fatalf("host1's tunnels: %+v", st)
		}
		// The server of link other stops: host2 says it cannot connect.
		l.Run(t, "host1", "systemctl stop tend-tunnel-other.service")
		st = status(t, l, "host2")
		l.Run(t, "host1", "systemctl start tend-tunnel-other.service")
		if st[0].Link != "echo" || !st[0].Connected || st[1].Link != "other" || st[1].Connected || !strings.Contains(st[1].Problem, "cannot connect") {
			t.Fatalf("host2's tunnels with link other's server down: %+v", st)
		}
	})
	t.Run("refused", func(t *testing.T) {
		if got := l.Run(t, "host3", "python3 /root/tls.py "+h1+" 7000"); !strings.HasPrefix(got, "refused") {
			t.Errorf("a client with no certificate: %s", got)
		}
		// host2's credentials of link other, against link echo's server.
		if got := l.Run(t, "host2", "python3 /root/tls.py "+h1+" 7000 /etc/tend/tunnel/other.pem"); !strings.HasPrefix(got, "refused") {
			t.Errorf("a client with another link's certificate: %s", got)
		}
		// The same client with its own link's credentials is let in: the
		// refusals above were for the certificate.
		if got := l.Run(t, "host2", "python3 /root/tls.py "+h1+" 7001 /etc/tend/tunnel/other.pem"); got != "accepted: b'secret\\n'\n" {
			t.Errorf("the link's own certificate: %s", got)
		}
		// The daemon records its health within 200ms of an event.
		if got := l.Run(t, "host1", "for i in $(seq 100); do grep -q \"not this link's peer\" /var/lib/tend/tunnel/echo.json && break; sleep 0.05; done; cat /var/lib/tend/tunnel/echo.json"); !strings.Contains(got, "not this link's peer") {
			t.Errorf("the server's health does not say why it refused:\n%s", got)
		}
	})

	// Open connections on both links, each waiting for its trigger.
	l.Run(t, "host2", "rm -f /root/go-*; systemd-run --unit=hold-echo sh -c 'python3 /root/client.py 127.0.0.1 9100 /root/go-echo > /root/held-echo 2>&1'; "+
		"systemd-run --unit=hold-other sh -c 'python3 /root/client.py 127.0.0.1 9101 /root/go-other > /root/held-other 2>&1'; "+
		"for i in $(seq 200); do grep -q one /root/held-echo && grep -q one /root/held-other && exit 0; sleep 0.05; done; cat /root/held-*; exit 1")
	other0 := l.Run(t, "host1", "systemctl show -P MainPID tend-tunnel-other.service")

	t.Run("renewal keeps open connections", func(t *testing.T) {
		before := l.Run(t, "host1", "cat /var/lib/tend/tunnel/echo.json")
		for _, h := range []string{"host1", "host2"} {
			res := tl.apply(h, now)
			if res.Changed != 2 {
				t.Errorf("renewal on %s changed %d resources, want the 2 links:\n%s", h, res.Changed, resourcetest.Describe(res))
			}
		}
		after := l.Run(t, "host1", "cat /var/lib/tend/tunnel/echo.json")
		if before == after {
			t.Fatalf("the server's health did not change with the renewal:\n%s", after)
		}
		if got := l.Run(t, "host1", "systemctl show -P MainPID tend-tunnel-other.service"); got != other0 {
			t.Errorf("the renewal restarted the daemon: pid %s, then %s", other0, got)
		}
		if got := l.Run(t, "host2", "touch /root/go-echo; for i in $(seq 200); do grep -q two /root/held-echo && break; sleep 0.05; done; cat /root/held-echo"); got != "one\ntwo\n" {
			t.Fatalf("the connection open across the renewal: %q", got)
		}
		if got := l.Run(t, "host2", "python3 /root/client.py 127.0.0.1 9100"); got != "one\n" {
			t.Fatalf("a new connection after the renewal: %q", got)
		}
	})

	t.Run("changing one link keeps the other", func(t *testing.T) {
		tl.role(fmt.Sprintf(link, "echo", 7002, 9102) + fmt.Sprintf(link, "other", 7001, 9101))
		for _, h := range []string{"host1", "host2"} {
			tl.apply(h, now)
		}
		if got := l.Run(t, "host2", "python3 /root/client.py 127.0.0.1 9102; python3 /root/client.py 127.0.0.1 9100 2>&1 | tail -1"); !strings.HasPrefix(got, "one\n") || !strings.Contains(got, "Connection refused") {
			t.Fatalf("after moving link echo: %q", got)
		}
		if got := l.Run(t, "host1", "systemctl show -P MainPID tend-tunnel-other.service"); got != other0 {
			t.Errorf("changing link echo restarted link other: pid %s, then %s", other0, got)
		}
		if got := l.Run(t, "host2", "touch /root/go-other; for i in $(seq 200); do grep -q two /root/held-other && break; sleep 0.05; done; cat /root/held-other"); got != "one\ntwo\n" {
			t.Fatalf("link other's connection, open while echo changed: %q", got)
		}
	})

	t.Run("a client added keeps the link's connections", func(t *testing.T) {
		l.Run(t, "host2", "systemd-run --unit=hold-add sh -c 'python3 /root/client.py 127.0.0.1 9102 /root/go-add > /root/held-add 2>&1'; "+
			"for i in $(seq 200); do grep -q one /root/held-add && exit 0; sleep 0.05; done; cat /root/held-add; exit 1")
		pid := l.Run(t, "host1", "systemctl show -P MainPID tend-tunnel-echo.service")
		tl.role(strings.Replace(fmt.Sprintf(link, "echo", 7002, 9102), "[app]", "[app, host3]", 1) + fmt.Sprintf(link, "other", 7001, 9101))
		for _, h := range []string{"host1", "host3"} {
			tl.apply(h, now)
		}
		if got := l.Run(t, "host3", "python3 /root/client.py 127.0.0.1 9102"); got != "one\n" {
			t.Fatalf("the added client host: %q", got)
		}
		if got := l.Run(t, "host1", "systemctl show -P MainPID tend-tunnel-echo.service"); got != pid {
			t.Errorf("adding a client restarted the server: pid %s, then %s", pid, got)
		}
		if got := l.Run(t, "host2", "touch /root/go-add; for i in $(seq 200); do grep -q two /root/held-add && break; sleep 0.05; done; cat /root/held-add"); got != "one\ntwo\n" {
			t.Fatalf("host2's connection, open while host3 was added: %q", got)
		}
	})

	t.Run("removal by omission", func(t *testing.T) {
		tl.role(fmt.Sprintf(link, "echo", 7002, 9102))
		tl.apply("host3", now) // its client side of echo goes too
		for _, h := range []string{"host1", "host2"} {
			res := tl.apply(h, now)
			if res.Removed != 1 {
				t.Errorf("%s: %d removed, want link other:\n%s", h, res.Removed, resourcetest.Describe(res))
			}
			if got := l.Run(t, h, "ls /etc/tend/tunnel /var/lib/tend/tunnel /etc/systemd/system | grep other; systemctl is-active tend-tunnel-other.service || true"); got != "inactive\n" {
				t.Errorf("%s after link other left the spec:\n%s", h, got)
			}
		}
		if got := l.Run(t, "host2", "python3 /root/client.py 127.0.0.1 9102"); got != "one\n" {
			t.Fatalf("the remaining link: %q", got)
		}
	})
}
