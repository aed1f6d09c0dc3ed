package firewall_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// world is a lab of four hosts: db (host1) serves a database-like TCP
// port, client (host2) may reach it, stranger (host3) may not, relay
// (host4) forwards a port to db. Each has an IPv6 address too: the lab
// bridge carries IPv6, the test adds the addresses.
type world struct {
	l    *labtest.Lab
	v4   map[string]string
	v6   map[string]string
	name map[string]string // role in the test -> lab host
}

func newWorld(t *testing.T) *world {
	l := labtest.New(t, 4)
	w := &world{l: l, v4: map[string]string{}, v6: map[string]string{}, name: map[string]string{
		"db": "host1", "client": "host2", "stranger": "host3", "relay": "host4"}}
	for i, role := range []string{"db", "client", "stranger", "relay"} {
		h := w.name[role]
		w.v4[role] = l.Host(t, h).Addr
		w.v6[role] = fmt.Sprintf("fd47:%x::%d", l.State.Index, i+10)
		l.MustEnter(t, h, "ip", "addr", "add", w.v6[role]+"/64", "dev", "host0", "nodad")
		// The relay must not tell db and stranger to talk directly: the
		// test routes them through it.
		l.MustEnter(t, h, "sysctl", "-q", "-w", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.host0.send_redirects=0", "net.ipv4.conf.all.accept_redirects=0")
	}
	// A database-like service on db (PostgreSQL has 5432 on loopback), and a plain service on stranger:
	// real TCP servers, IPv4 and IPv6, logging who connects.
	l.Run(t, "host1", "systemd-run --unit=srv-db --working-directory=/tmp python3 -m http.server 6543 --bind ::")
	l.Run(t, "host3", "systemd-run --unit=srv-out --working-directory=/tmp python3 -m http.server 8080 --bind ::")
	for h, port := range map[string]string{"host1": "6543", "host3": "8080"} {
		l.Run(t, h, "for i in $(seq 100); do ss -Hltn | grep -q ':"+port+" ' && exit 0; sleep 0.1; done; systemctl status srv-db srv-out; exit 1")
	}
	// Somebody else's table, which tend must leave alone.
	l.MustEnter(t, "host1", "nft", "add table inet other; add chain inet other keep; add rule inet other keep counter")
	return w
}

// repo writes an infrastructure whose roles are given, for the four hosts
// at their lab addresses, and compiles host.
func (w *world) compile(t *testing.T, role, roles string) *spec.Host {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"tend.yaml": ""}
	for _, part := range strings.Split(roles, "--- ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		files["roles/"+name+"/role.yaml"] = body
	}
	env := "hosts:\n"
	for _, r := range []string{"db", "client", "stranger", "relay"} {
		rs := ""
		if files["roles/"+r+"/role.yaml"] != "" {
			rs = "    roles: [" + r + "]\n"
		}
		env += fmt.Sprintf("  %s:\n    address: %s\n    addresses: {v6: %q}\n%s", r, w.v4[r], w.v6[r], rs)
	}
	files["environments/lab.yaml"] = env
	for n, body := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("lab", role, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func desired(t *testing.T, h *spec.Host) *wire.Desired {
	t.Helper()
	d, err := plan.Desired(h)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// converge applies the roles to host role and checks the convergence
// rules: the plan shows the change, apply makes it, then nothing is left.
func (w *world) converge(t *testing.T, role, roles string) plan.Result {
	t.Helper()
	d := desired(t, w.compile(t, role, roles))
	p := resourcetest.Run(t, w.l, w.name[role], wire.Plan, d)
	if p.Err != nil {
		t.Fatalf("plan: %v", p.Err)
	}
	a := resourcetest.Run(t, w.l, w.name[role], wire.Apply, d)
	if a.Err != nil {
		t.Fatalf("apply: %v\n%s", a.Err, resourcetest.Describe(a))
	}
	again := resourcetest.Run(t, w.l, w.name[role], wire.Plan, d)
	if again.Err != nil || again.Changed+again.Removed != 0 {
		t.Fatalf("plan after apply: %v, %d changes, %d removals:\n%s", again.Err, again.Changed, again.Removed, resourcetest.Describe(again))
	}
	return p
}

// reach reports whether from gets an HTTP answer at url.
func (w *world) reach(t *testing.T, from, url string) bool {
	t.Helper()
	out, err := w.l.Enter(t, w.name[from], "curl", "-g", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", url)
	t.Logf("%s -> %s: %s %v", from, url, out, err)
	return out == "200"
}

func (w *world) url(role string, v6 bool, port int) string {
	if v6 {
		return fmt.Sprintf("http://[%s]:%d/", w.v6[role], port)
	}
	return fmt.Sprintf("http://%s:%d/", w.v4[role], port)
}

func (w *world) table(t *testing.T, role, table string) string {
	t.Helper()
	out, err := w.l.Enter(t, w.name[role], "nft", "-s", "list", "table", "inet", table)
	if err != nil {
		return "" // no such table
	}
	return out
}

const dbRoles = `--- db
resources:
  - firewall: db
    allow:
      - tcp 6543 from host:client, host:relay
`

// TestFirewall drives one lab through what users rely on: an allowlist
// by host name, IPv4 and IPv6; persistence; the lockout revert; port
// forwarding; removal; and another table surviving all of it.
func TestFirewall(t *testing.T) {
	w := newWorld(t)
	for _, v6 := range []bool{false, true} {
		if !w.reach(t, "stranger", w.url("db", v6, 6543)) {
			t.Fatalf("before any firewall, stranger cannot reach db (v6 %v): the lab is broken", v6)
		}
	}

	var applied string
	t.Run("allowlist", func(t *testing.T) {
		p := w.converge(t, "db", dbRoles)
		var diff string
		for _, e := range p.Events {
			if e.ID == "firewall:tend" && e.Change != nil {
				diff = e.Change.Diff
			}
		}
		for _, want := range []string{"+\t\tip saddr { " + w.v4["client"] + ", " + w.v4["relay"] + " } tcp dport 6543 accept", "+\t\tip6 saddr { " + w.v6["client"], `tcp dport 22 accept comment "tend ssh"`} {
			if !strings.Contains(diff, want) {
				t.Errorf("the plan's rule diff lacks %q:\n%s", want, diff)
			}
		}
		for _, v6 := range []bool{false, true} {
			if !w.reach(t, "client", w.url("db", v6, 6543)) {
				t.Errorf("client cannot reach db's port (v6 %v)", v6)
			}
			if w.reach(t, "stranger", w.url("db", v6, 6543)) {
				t.Errorf("stranger reaches db's port (v6 %v)", v6)
			}
		}
		if !strings.Contains(w.table(t, "db", "other"), "chain keep") {
			t.Errorf("table inet other is gone:\n%s", w.table(t, "db", "other"))
		}
		applied = w.table(t, "db", "tend")
		if out, _ := w.l.Enter(t, "host1", "systemctl", "is-active", firewallRevertTimer); strings.TrimSpace(out) == "active" {
			t.Error("the revert timer is still armed after the confirmation")
		}
	})
	if applied == "" {
		t.FailNow()
	}

	t.Run("boot", func(t *testing.T) {
		// What boot does: the unit loads the confirmed file.
		w.l.MustEnter(t, "host1", "nft", "delete table inet tend")
		w.l.MustEnter(t, "host1", "systemctl", "restart", "tend-firewall.service")
		if got := w.table(t, "db", "tend"); got != applied {
			t.Fatalf("after the boot unit ran:\n%s\nwant:\n%s", got, applied)
		}
	})

	t.Run("lockout", func(t *testing.T) {
		locked := strings.Replace(dbRoles, "    allow:", "    ssh_from: [192.0.2.0/24]\n    revert_after: 300s\n    allow:", 1)
		// Refused at plan time: the ruleset would shut tend's SSH out.
		p := resourcetest.Run(t, w.l, "host1", wire.Plan, desired(t, w.compile(t, "db", locked)))
		if p.Err == nil || !strings.Contains(p.Err.Error(), "tend would lock itself out") {
			t.Fatalf("plan of a ruleset refusing tend's SSH: %v, want the lockout refusal", p.Err)
		}
		// Forced past the check: the host reverts, the run fails.
		forced := strings.Replace(locked, "    allow:", "    allow_lockout: true\n    allow:", 1)
		w.shutOut(t, forced, applied, func() {
			// Force the revert timer rather than wait 300 s.
			w.l.MustEnter(t, "host1", "systemctl", "start", "tend-firewall-revert.service")
		})
		// Reachable over a new connection, and nothing left to do but
		// the change that was reverted.
		again := resourcetest.Run(t, w.l, "host1", wire.Plan, desired(t, w.compile(t, "db", dbRoles)))
		if again.Err != nil || again.Changed != 0 {
			t.Errorf("plan of the previous state after the revert: %v, %d changes", again.Err, again.Changed)
		}
	})

	t.Run("reboot in the window", func(t *testing.T) {
		// What a reboot does to a host shut out: the transient revert
		// timer is gone, and the boot unit loads the confirmed file,
		// which is still the previous ruleset.
		forced := strings.Replace(dbRoles, "    allow:", "    ssh_from: [192.0.2.0/24]\n    revert_after: 300s\n    allow_lockout: true\n    allow:", 1)
		w.shutOut(t, forced, applied, func() {
			w.l.MustEnter(t, "host1", "systemctl", "stop", firewallRevertTimer)
			w.l.MustEnter(t, "host1", "systemctl", "restart", "tend-firewall.service")
		})
	})

	t.Run("converge", func(t *testing.T) {
		// The convergence suite on the relay: a change of policy and
		// entries is one update; nothing is left after each apply.
		items := func(roles string) []wire.Item { return desired(t, w.compile(t, "relay", roles)).Resources }
		resourcetest.Converge(t, w.l, "host4",
			resourcetest.State{Name: "allow", Resources: items("--- relay\nresources:\n  - firewall: relay\n    allow: [udp 53, tcp 8000-8100 from host:db]\n")},
			resourcetest.State{Name: "nat", Resources: items("--- relay\nresources:\n  - sysctl: net.ipv4.ip_forward\n    value: \"1\"\n  - firewall: relay\n    input_policy: accept\n    nat: [10.10.0.0/24]\n")},
		)
	})

	t.Run("forward", func(t *testing.T) {
		w.converge(t, "relay", `--- relay
resources:
  - sysctl: net.ipv4.ip_forward
    value: "1"
  - sysctl: net.ipv6.conf.all.forwarding
    value: "1"
  - firewall: relay
    forward_policy: accept
    forward:
      - tcp 2525 to host:db:6543 from host:client
`)
		for _, v6 := range []bool{false, true} {
			if !w.reach(t, "client", w.url("relay", v6, 2525)) {
				t.Errorf("client does not reach db through relay's forwarded port (v6 %v)", v6)
			}
			if w.reach(t, "stranger", w.url("relay", v6, 2525)) {
				t.Errorf("stranger reaches db through relay's forwarded port (v6 %v)", v6)
			}
		}
		// Masqueraded: db saw the relay, which its own allowlist admits.
		log := w.l.Run(t, "host1", "journalctl -q -u srv-db -o cat")
		if !strings.Contains(log, w.v4["relay"]+" - -") {
			t.Errorf("db's server never saw the relay's address: the forward was not masqueraded:\n%s", log)
		}
		// What db opens itself, routed through the relay, keeps db's
		// address: only forwarded connections are masqueraded.
		w.l.MustEnter(t, "host1", "ip", "route", "add", w.v4["stranger"]+"/32", "via", w.v4["relay"])
		w.l.MustEnter(t, "host3", "ip", "route", "add", w.v4["db"]+"/32", "via", w.v4["relay"])
		before := forwarded(t, w)
		if !w.reach(t, "db", w.url("stranger", false, 8080)) {
			t.Fatal("db cannot reach stranger through the relay")
		}
		if forwarded(t, w) == before {
			t.Fatal("the relay forwarded nothing: db's connection did not go through it")
		}
		out := w.l.Run(t, "host3", "journalctl -q -u srv-out -o cat")
		if !strings.Contains(out, w.v4["db"]+" - -") || strings.Contains(out, w.v4["relay"]+" - -") {
			t.Errorf("stranger saw db's own connection from the wrong address (db %s, relay %s):\n%s", w.v4["db"], w.v4["relay"], out)
		}
		// db and stranger talk directly again: the next relay rulesets
		// do not forward for them.
		w.l.MustEnter(t, "host1", "ip", "route", "del", w.v4["stranger"]+"/32")
		w.l.MustEnter(t, "host3", "ip", "route", "del", w.v4["db"]+"/32")
	})

	t.Run("guest nat", func(t *testing.T) {
		// A private guest behind the relay: a network namespace made here,
		// 10.10.0.2 routed through the relay's 10.10.0.1.
		w.l.Run(t, "host4", `ip netns add guest && ip link add vg0 type veth peer name vg1 && ip link set vg1 netns guest &&
ip addr add 10.10.0.1/24 dev vg0 && ip link set vg0 up &&
ip -n guest addr add 10.10.0.2/24 dev vg1 && ip -n guest link set vg1 up && ip -n guest link set lo up &&
ip -n guest route add default via 10.10.0.1`)
		guest := func() string {
			out, _ := w.l.Enter(t, "host4", "ip", "netns", "exec", "guest", "curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", w.url("stranger", false, 8080))
			return out
		}
		w.converge(t, "relay", `--- relay
resources:
  - sysctl: net.ipv4.ip_forward
    value: "1"
  - firewall: relay
    nat: [10.10.0.0/24]
`)
		if got := guest(); got != "200" {
			t.Fatalf("the guest does not reach stranger through the relay's NAT: %q", got)
		}
		// Masqueraded: stranger saw the relay, never the guest's private
		// address.
		out := w.l.Run(t, "host3", "journalctl -q -u srv-out -o cat")
		if !strings.Contains(out, w.v4["relay"]+" - -") || strings.Contains(out, "10.10.0.2") {
			t.Errorf("stranger saw the guest's connection from the wrong address (relay %s):\n%s", w.v4["relay"], out)
		}
		// Without the nat entry, the relay's forward policy (drop) stops
		// the guest.
		w.converge(t, "relay", `--- relay
resources:
  - sysctl: net.ipv4.ip_forward
    value: "1"
  - firewall: relay
`)
		if got := guest(); got == "200" {
			t.Error("the guest reaches stranger with no nat entry and forward_policy drop")
		}
	})

	t.Run("removal", func(t *testing.T) {
		d := desired(t, w.compile(t, "db", "--- db\nresources:\n  - file: /etc/motd-tend\n    content: x\n"))
		r := resourcetest.Run(t, w.l, "host1", wire.Apply, d)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		gone := false
		for _, e := range r.Events {
			gone = gone || e.ID == "firewall:tend" && e.Removal && e.Applied && e.Change.Action == wire.Delete
		}
		if !gone {
			t.Fatalf("firewall:tend was not removed:\n%s", resourcetest.Describe(r))
		}
		if got := w.table(t, "db", "tend"); got != "" {
			t.Errorf("table inet tend is still there:\n%s", got)
		}
		w.l.Run(t, "host1", "test ! -e /etc/tend/firewall.nft && test ! -e /etc/systemd/system/tend-firewall.service")
		if !w.reach(t, "stranger", w.url("db", false, 6543)) {
			t.Error("after the removal stranger still cannot reach db")
		}
		if !strings.Contains(w.table(t, "db", "other"), "chain keep") {
			t.Error("table inet other is gone")
		}
		if again := resourcetest.Run(t, w.l, "host1", wire.Plan, d); again.Err != nil || again.Changed+again.Removed != 0 {
			t.Errorf("plan after the removal: %v, %d changes, %d removals", again.Err, again.Changed, again.Removed)
		}
	})
}

const firewallRevertTimer = "tend-firewall-revert.timer"

// shutOut applies roles to db, which must shut tend's new SSH connections
// out; once the controller reports one refused, event runs (it makes the
// host revert). The run must fail and report the revert, quickly, and db
// must have its previous table (applied) and keep table inet other.
func (w *world) shutOut(t *testing.T, roles, applied string, event func()) {
	t.Helper()
	d := desired(t, w.compile(t, "db", roles))
	d.Protocol = wire.Protocol
	target := resourcetest.Target(t, w.l, "host1", d)
	target.SSH.Timeout = 3 * time.Second
	var once sync.Once
	var refused, armed, window string
	progress := func(_ string, e wire.Event) {
		if e.Type == wire.EventConfirm && e.Diag != nil {
			once.Do(func() {
				refused = e.Diag.Message
				armed, _ = w.l.Enter(t, "host1", "systemctl", "is-active", firewallRevertTimer)
				window, _ = w.l.Enter(t, "host1", "systemctl", "show", "-P", "TimersMonotonic", firewallRevertTimer)
				event()
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	r := plan.Run(ctx, []plan.Target{target}, plan.Options{Mode: wire.Apply, Agent: resourcetest.Agent(t), Progress: progress})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "restored its previous ruleset") {
		t.Fatalf("apply of a ruleset that shuts tend out: %v, want the revert reported", r.Err)
	}
	if refused == "" {
		t.Fatal("no new SSH connection was refused: the ruleset did not block SSH")
	}
	if strings.TrimSpace(armed) != "active" {
		t.Errorf("while tend was shut out the revert timer was %q, not active", armed)
	}
	if !strings.Contains(window, "OnActiveUSec=5min") {
		t.Errorf("the revert timer is not set to revert_after (300s): %s", window)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("the run took %s: it waited for the window instead of the forced revert", time.Since(start))
	}
	if got := w.table(t, "db", "tend"); got != applied {
		t.Errorf("after the revert, the live table is not the previous one:\n%s\nwant:\n%s", got, applied)
	}
	if !strings.Contains(w.table(t, "db", "other"), "chain keep") {
		t.Error("table inet other is gone")
	}
}

// forwarded is the relay's count of IPv4 packets it forwarded.
func forwarded(t *testing.T, w *world) string {
	t.Helper()
	out := w.l.MustEnter(t, "host4", "sh", "-c", "awk '/^Ip: [0-9]/ {print $7}' /proc/net/snmp")
	return strings.TrimSpace(out)
}
