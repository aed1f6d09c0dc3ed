package spec

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const firewallRepo = `
-- tend.yaml --
-- roles/base/role.yaml --
resources:
  - firewall: base
    ssh_from: [10.0.0.0/8]
    allow:
      - udp 53
-- roles/db/role.yaml --
resources:
  - firewall: db
    allow:
      - tcp 5432 from role:web, host:admin, 10.9.0.0/16 # a YAML comment
      - tcp 9187 from role:nobody
      - tcp 9100 from group:monitoring
  - file: /etc/after-firewall
    content: x
    requires: [firewall:db]
-- roles/relay/role.yaml --
resources:
  - sysctl: net.ipv4.ip_forward
    value: "1"
  - sysctl: net.ipv6.conf.all.forwarding
    value: "1"
  - firewall: relay
    input_policy: drop
    forward:
      - tcp 2525 to host:mail:25 from role:web
    nat: [10.10.0.0/24]
-- roles/web/role.yaml --
-- roles/nobody/role.yaml --
-- environments/prod.yaml --
hosts:
  db:
    address: 192.0.2.10
    ssh: {port: 2222}
    roles: [base, db]
  web1:
    address: 192.0.2.21
    addresses: {v6: "2001:db8::21", name: web1.example.org}
    roles: [web]
  web2:
    address: 192.0.2.22
    roles: [web]
  admin:
    address: 192.0.2.30
  mail:
    address: 192.0.2.40
    addresses: {v6: "2001:db8::40"}
  relay:
    address: 192.0.2.50
    roles: [base, relay]
groups:
  monitoring: [mail, admin]
`

// TestFirewallCompile: the declarations of a host merge into
// firewall:tend, host and role names become every address of those hosts
// (IPv4 and IPv6, names left out), a role no host has allows nobody, and
// tend's own SSH port comes first, from ssh_from.
func TestFirewallCompile(t *testing.T) {
	r, err := Load(writeRepo(t, firewallRepo))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("prod", "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	var fw *Resource
	n := 0
	for _, x := range h.Resources {
		if x.Kind == KindFirewall {
			fw, n = x, n+1
		}
		if x.ID == "file:/etc/after-firewall" && (len(x.Requires) != 1 || x.Requires[0] != "firewall:tend") {
			t.Errorf("requires of a firewall declaration: %v, want firewall:tend", x.Requires)
		}
	}
	if n != 1 || fw.ID != "firewall:tend" {
		t.Fatalf("%d firewall resources (%v), want one firewall:tend", n, fw)
	}
	s := fw.Spec.(*Firewall)
	want := &Firewall{
		InputPolicy: "drop", ForwardPolicy: "drop", RevertAfter: "60s",
		Allow: []string{
			"udp 53 # firewall base",
			"tcp 5432 from 192.0.2.21, 2001:db8::21, 192.0.2.22, 192.0.2.30, 10.9.0.0/16 # firewall db",
			"tcp 9100 from 192.0.2.40, 2001:db8::40, 192.0.2.30 # firewall db",
			"tcp 2222 from 10.0.0.0/8 # tend ssh",
		},
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("compiled firewall (-want +got):\n%s", d)
	}
}

// TestFirewallForward: a forward to a host goes to each of its addresses,
// from the addresses of the sources.
func TestFirewallForward(t *testing.T) {
	r, err := Load(writeRepo(t, firewallRepo))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("prod", "relay", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range h.Resources {
		if x.ID == "firewall:tend" {
			got := x.Spec.(*Firewall).Forward
			want := []string{
				"tcp 2525 to 192.0.2.40:25 from 192.0.2.21, 2001:db8::21, 192.0.2.22 # firewall relay",
				"tcp 2525 to [2001:db8::40]:25 from 192.0.2.21, 2001:db8::21, 192.0.2.22 # firewall relay",
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("forward (-want +got):\n%s", d)
			}
			return
		}
	}
	t.Fatal("no firewall:tend")
}

// TestFirewallErrors: each mistake is reported at its place.
func TestFirewallErrors(t *testing.T) {
	for _, tc := range []struct {
		name, role, want string
	}{
		{"syntax", "  - firewall: a\n    allow: [tcp]\n", "allow \"tcp\": expected PROTO PORTS"},
		{"proto", "  - firewall: a\n    allow: [icmp 1]\n", `"icmp" is not a protocol`},
		{"port", "  - firewall: a\n    allow: [tcp 70000]\n", `"70000" is not a port`},
		{"source", "  - firewall: a\n    allow: [tcp 22 from 10.0.0.1/8]\n", "has host bits set"},
		{"policy", "  - firewall: a\n    input_policy: reject\n", `input_policy "reject" is not one of drop, accept`},
		{"window", "  - firewall: a\n    revert_after: 1s\n", "revert_after \"1s\" must be whole seconds between 5s and 1h"},
		{"no host", "  - firewall: a\n    allow: [tcp 22 from host:ghost]\n", "no host ghost in environment prod"},
		{"no role", "  - firewall: a\n    allow: [tcp 22 from role:ghost]\n", "no role ghost in the repository"},
		{"conflict", "  - firewall: a\n    input_policy: accept\n  - firewall: b\n    input_policy: drop\n", "input_policy drop conflicts with input_policy accept of firewall a"},
		{"absent mix", "  - firewall: a\n    state: absent\n  - firewall: b\n", "say absent on all of them or on none"},
		{"ip_forward", "  - firewall: a\n    nat: [10.1.0.0/24]\n", "declare - sysctl: net.ipv4.ip_forward"},
		{"forward target", "  - sysctl: net.ipv4.ip_forward\n    value: \"1\"\n  - firewall: a\n    forward: [tcp 25 to host:h:25]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeRepo(t, "-- tend.yaml --\n-- roles/r/role.yaml --\nresources:\n"+tc.role+
				"-- environments/prod.yaml --\nhosts:\n  h:\n    address: 192.0.2.1\n    roles: [r]\n")
			r, err := Load(dir)
			if err == nil {
				_, err = r.Compile("prod", "h", nil)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one with %q", err, tc.want)
			case err != nil && !strings.Contains(err.Error(), "roles/r/role.yaml:"):
				t.Errorf("error without its position: %v", err)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp 22", "tcp 22"},
		{"tcp  80,443  from  any", "tcp 80,443 from any"},
		{"udp 60000-61000 from 10.0.0.0/8,2001:db8::/32 # mosh", "udp 60000-61000 from 10.0.0.0/8, 2001:db8::/32 # mosh"},
		{"tcp 5432 from ::ffff:192.0.2.1", "tcp 5432 from 192.0.2.1"},
	} {
		r, err := ParseRule(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRule(%q) = %q, %v; want %q", tc.in, r.String(), err, tc.want)
		}
	}
	r, _ := ParseRule("tcp 20-25,80 from 10.0.0.0/8")
	for _, c := range []struct {
		addr string
		port uint16
		want bool
	}{{"10.1.2.3", 22, true}, {"10.1.2.3", 80, true}, {"10.1.2.3", 26, false}, {"11.0.0.1", 22, false}} {
		if got := r.Allows("tcp", netip.MustParseAddr(c.addr), c.port); got != c.want {
			t.Errorf("Allows(%s, %d) = %v", c.addr, c.port, got)
		}
	}
	if r.Allows("udp", netip.MustParseAddr("10.0.0.1"), 22) {
		t.Error("a tcp rule allows udp")
	}
}

func TestParseForward(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp 2525 to host:mail:25 from 10.0.0.0/8", "tcp 2525 to host:mail:25 from 10.0.0.0/8"},
		{"tcp 2525 to host:mail", "tcp 2525 to host:mail:2525"},
		{"udp 53 to 10.0.0.5 keep-source", "udp 53 to 10.0.0.5:53 keep-source"},
		{"tcp 80 to [2001:db8::1]:8080", "tcp 80 to [2001:db8::1]:8080"},
	} {
		f, err := ParseForward(tc.in)
		got := f.String()
		if f.To.Host != "" { // a host target prints as it is resolved: show it by name
			got = strings.Replace(got, "to host:"+f.To.Host+":", "to host:"+f.To.Host+":", 1)
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseForward(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"tcp 25 to", "tcp 25 mail", "tcp 25 to nowhere", "tcp 25 to 10.0.0.1:0", "tcp 25 to host:m from"} {
		if _, err := ParseForward(bad); err == nil {
			t.Errorf("ParseForward(%q) accepted", bad)
		}
	}
}

// FuzzFirewallEntries: what the parsers accept prints as an entry that
// parses back to the same entry (the compiled form is parsed again on the
// host), and nothing makes them panic.
func FuzzFirewallEntries(f *testing.F) {
	for _, s := range []string{"tcp 22", "udp 53,60000-61000 from 10.0.0.0/8, any # x", "tcp 25 to host:mail:2525 from role:web keep-source", "tcp 80 to [2001:db8::1]:8080", "tcp 1 from ::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseRule(s); err == nil {
			again, err := ParseRule(r.String())
			if err != nil || again.String() != r.String() {
				t.Fatalf("rule %q prints as %q, which parses as %q, %v", s, r.String(), again.String(), err)
			}
		}
		if fw, err := ParseForward(s); err == nil {
			again, err := ParseForward(fw.String())
			if err != nil || again.String() != fw.String() {
				t.Fatalf("forward %q prints as %q, which parses as %q, %v", s, fw.String(), again.String(), err)
			}
		}
	})
}

// TestFirewallOpensSites: a site opens its ports in its host's firewall
// without being written twice: with tls, port 80 to everyone (redirects
// and ACME challenges) and 443 to the site's allowlist only.
func TestFirewallOpensSites(t *testing.T) {
	r, err := Load(writeRepo(t, `
-- tend.yaml --
-- roles/web/role.yaml --
resources:
  - firewall: web
  - file: /etc/ssl/shop.pem
    content: x
  - file: /etc/ssl/shop.key
    content: x
  - site: shop
    server_names: [shop.example.org]
    tls: {cert_file: /etc/ssl/shop.pem, key_file: /etc/ssl/shop.key}
    allow: [198.51.100.0/24]
    root: /srv/shop
  - site: plain
    server_names: [plain.example.org]
    http_port: 8080
    root: /srv/plain
  - certificate: mail
    names: [mail.example.org]
-- environments/prod.yaml --
hosts:
  web1:
    address: 192.0.2.21
    roles: [web]
`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("prod", "web1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var allow []string
	for _, x := range h.Resources {
		if x.Kind == KindFirewall {
			allow = x.Spec.(*Firewall).Allow
		}
	}
	want := []string{
		"tcp 22 # tend ssh",
		"tcp 80 # site shop.example.org (redirect, ACME)",
		"tcp 443 from 198.51.100.0/24 # site shop.example.org",
		"tcp 8080 # site plain.example.org",
		"tcp 80 # certificate mail.example.org (ACME HTTP-01)",
	}
	if d := cmp.Diff(want, allow); d != "" {
		t.Errorf("firewall of a host with sites (-want +got):\n%s", d)
	}
}

// TestFirewallLabAddresses: in a lab rehearsal (Repo.Addresses set, as
// plan does under --lab) host and role sources are the lab hosts'
// addresses, never the real hosts' (which the lab hosts do not have).
func TestFirewallLabAddresses(t *testing.T) {
	r, err := Load(writeRepo(t, firewallRepo))
	if err != nil {
		t.Fatal(err)
	}
	r.Addresses = map[string]string{"web1": "10.99.0.21", "web2": "10.99.0.22", "admin": "10.99.0.30", "db": "10.99.0.10"}
	h, err := r.Compile("prod", "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range h.Resources {
		if x.Kind == KindFirewall {
			got := x.Spec.(*Firewall).Allow[1]
			if want := "tcp 5432 from 10.99.0.21, 10.99.0.22, 10.99.0.30, 10.9.0.0/16 # firewall db"; got != want {
				t.Errorf("under a lab rehearsal: %q, want %q", got, want)
			}
			return
		}
	}
	t.Fatal("no firewall compiled")
}
