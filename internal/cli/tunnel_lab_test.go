package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// TestTunnelApplyStatus: the way a user runs a tunnel: plan refuses an
// environment with tunnels and no CA, with the hint; tunnel ca init, then
// apply on a lab rehearsal (the spec's addresses are not the lab's: the
// tunnel follows the lab hosts); the plan after it is empty; a service on
// host1's loopback answers on host2's; tend status shows both sides
// connected, and fails when the server side is down.
func TestTunnelApplyStatus(t *testing.T) {
	l := labtest.New(t, 2)
	e := newSecretEnv(t)
	e.forLab()
	key, pub := e.keygen("ops")
	e.useKey(key)
	for name, text := range map[string]string{
		"tend.yaml":                    "name: off\n",
		"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [db]}\n  host2: {address: 192.0.2.2, roles: [app]}\n",
		"roles/app/role.yaml":          "resources:\n  - directory: /srv/app\n",
		"roles/db/role.yaml":           "resources:\n  - tunnel: echo\n    to: 127.0.0.1:9000\n    port: 7000\n    clients: [app]\n    listen: 127.0.0.1:9100\n",
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	e.fails(1, "", append([]string{"plan", "production"}, lab...), "secrets hold no vault_tunnel_ca", "tend tunnel ca init production")
	e.ok("", "tunnel", "ca", "init", "production", "--repo", e.repo, "--recipient", pub)
	// The first plan and the apply show the links' keys only as sensitive
	// changes: no private key in what tend prints.
	planOut, _, _ := e.run("", append([]string{"plan", "production"}, lab...)...)
	applyOut := e.ok("", append([]string{"apply", "production"}, lab...)...)
	for what, out := range map[string]string{"plan": planOut, "apply": applyOut} {
		if !strings.Contains(out, "tunnel") || strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("%s output shows no tunnel, or a private key:\n%s", what, out)
		}
	}
	e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing to change

	l.Run(t, "host1", `systemd-run --unit=echo python3 -c 'import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile: self.wfile.write(line)
socketserver.TCPServer(("127.0.0.1", 9000), H).serve_forever()'`)
	got := l.Run(t, "host2", `for i in $(seq 100); do python3 -c 'import socket
s = socket.create_connection(("127.0.0.1", 9100), timeout=10); s.sendall(b"ping\n"); print(s.makefile().readline().strip())' 2>/dev/null && exit 0; sleep 0.05; done; exit 1`)
	if got != "ping\n" {
		t.Fatalf("through the tunnel: %q", got)
	}

	out := e.ok("", append([]string{"status", "production"}, lab...)...)
	for _, want := range []string{"echo (server) connected", "echo (client) connected 127.0.0.1:9100 -> " + l.Host(t, "host1").Addr + ":7000", "certificate until"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	l.Run(t, "host1", "systemctl stop tend-tunnel-echo.service")
	e.fails(1, "", append([]string{"status", "production"}, lab...), "host2: tunnel echo (client): cannot connect to the server", "host1: tunnel echo (server): not running")
}

// TestTunnelStunnelPeers: a site migrating from stunnel4, as a user
// declares it: on link tosun tend serves and stunnel4 (Debian's
// stunnel@NAME.service, installed and configured by the same spec) is the
// client on host2; on link fromsun stunnel4 serves on host1 and tend is
// the client. tend writes stunnel's credentials on its hosts (no key on
// the controller's disk), both links carry traffic, tend status shows the
// stunnel sides, and a second apply changes nothing.
func TestTunnelStunnelPeers(t *testing.T) {
	l := labtest.New(t, 2)
	e := newSecretEnv(t)
	e.forLab()
	key, pub := e.keygen("ops")
	e.useKey(key)
	a1 := l.Host(t, "host1").Addr
	stunnelConf := func(client bool, accept, connect, checkHost string) string {
		c := "foreground = yes\npid =\n[link]\n"
		if client {
			c += "client = yes\n"
		}
		return c + "accept = " + accept + "\nconnect = " + connect + "\ncert = /etc/tend/tunnel/LINK.pem\nCAfile = /etc/tend/tunnel/LINK.pem\n" +
			"verifyChain = yes\ncheckHost = " + checkHost + "\nsslVersionMin = TLSv1.3\n"
	}
	// The stunnel resources of one side of a link: the package, its
	// configuration, its unit; after the tunnel, which writes the
	// credentials the configuration names.
	stunnelSide := func(link, conf string) string {
		conf = strings.ReplaceAll(conf, "LINK", link)
		return "  - file: /etc/stunnel/" + link + ".conf\n    content: |\n" + indent(conf, "      ") +
			"    requires: [\"package:stunnel4\", \"tunnel:" + link + "\"]\n" +
			"  - service: stunnel@" + link + "\n    enabled: true\n    running: true\n    requires: [\"file:/etc/stunnel/" + link + ".conf\"]\n"
	}
	for name, text := range map[string]string{
		"tend.yaml":                    "name: off\n",
		"environments/production.yaml": "hosts:\n  host1: {address: " + a1 + ", roles: [db]}\n  host2: {address: " + l.Host(t, "host2").Addr + ", roles: [app]}\n",
		"roles/db/role.yaml": "resources:\n  - package: stunnel4\n" +
			"  - tunnel: tosun\n    to: 127.0.0.1:9000\n    port: 7000\n    clients: [app]\n    listen: 127.0.0.1:9100\n    stunnel: [host2]\n" +
			"  - tunnel: fromsun\n    to: 127.0.0.1:9000\n    port: 7001\n    clients: [app]\n    listen: 127.0.0.1:9101\n    stunnel: [host1]\n" +
			stunnelSide("fromsun", stunnelConf(false, a1+":7001", "127.0.0.1:9000", "host2.client.fromsun.production.tend.invalid")),
		"roles/app/role.yaml": "resources:\n  - package: stunnel4\n" +
			stunnelSide("tosun", stunnelConf(true, "127.0.0.1:9300", a1+":7000", "server.tosun.production.tend.invalid")),
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	e.ok("", "tunnel", "ca", "init", "production", "--repo", e.repo, "--recipient", pub)
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing to change

	l.Run(t, "host1", `systemd-run --unit=echo python3 -c 'import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile: self.wfile.write(line)
socketserver.TCPServer(("127.0.0.1", 9000), H).serve_forever()'`)
	for what, port := range map[string]string{"stunnel4 client -> tend server": "9300", "tend client -> stunnel4 server": "9101"} {
		got := l.Run(t, "host2", `for i in $(seq 100); do python3 -c 'import socket
s = socket.create_connection(("127.0.0.1", `+port+`), timeout=10); s.sendall(b"ping\n"); print(s.makefile().readline().strip())' 2>/dev/null && exit 0; sleep 0.05; done; exit 1`)
		if got != "ping\n" {
			t.Errorf("%s: %q", what, got)
		}
	}
	// No tend daemon where stunnel4 runs the side.
	for host, unit := range map[string]string{"host1": "tend-tunnel-fromsun", "host2": "tend-tunnel-tosun"} {
		if out, _ := l.Enter(t, host, "systemctl", "is-active", unit); strings.TrimSpace(out) == "active" {
			t.Errorf("%s runs %s, though stunnel4 runs that side", host, unit)
		}
	}
	out := strings.Join(strings.Fields(e.ok("", append([]string{"status", "production"}, lab...)...)), " ")
	for _, want := range []string{"fromsun (server, stunnel4) stunnel4 running", "tosun (client, stunnel4) stunnel4 running", "tosun (server) connected", "fromsun (client) connected"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(prefix + line)
	}
	return b.String() + "\n"
}
