package spec

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tunnelRepo = `
-- tend.yaml --
name: off
-- environments/production.yaml --
hosts:
  db: {address: 10.0.0.1, roles: [mongo]}
  web1: {address: 10.0.0.2, roles: [web]}
  web2: {address: 10.0.0.3, roles: [web]}
  batch: {address: 10.0.0.4, roles: [batch]}
-- roles/web/role.yaml --
resources:
  - directory: /srv/web
-- roles/batch/role.yaml --
resources:
  - directory: /srv/batch
-- roles/mongo/role.yaml --
resources:
  - directory: /srv/mongo
  - tunnel: mongo
    to: "127.0.0.1:{{.mongo_port}}"
    port: 7017
    clients: [web, batch]
    listen: 127.0.0.1:27017
    requires: [directory:/srv/mongo]
vars:
  mongo_port: 27017
`

// TestTunnelSides: the declaring host gets the server side, open to its
// clients; every client host (by name or by role) gets the client side,
// with the server's address and the service rendered with the server's
// variables.
func TestTunnelSides(t *testing.T) {
	r, err := Load(writeRepo(t, tunnelRepo))
	if err != nil {
		t.Fatal(err)
	}
	tunnel := func(host string) *Tunnel {
		h, err := r.Compile("production", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range h.Resources {
			if x.ID == "tunnel:mongo" {
				if host == "db" {
					if got := x.Spec.(Opener).Openings(h); !cmp.Equal(got, []Opening{{Proto: "tcp", Port: 7017, From: []string{"host:web1", "host:web2", "host:batch"}, What: "tunnel server"}}) {
						t.Errorf("openings of the server: %+v", got)
					}
				}
				return x.Spec.(*Tunnel)
			}
		}
		return nil
	}
	s := tunnel("db")
	if s == nil || s.Side != TunnelServer || s.Bind != "10.0.0.1:7017" || s.To != "127.0.0.1:27017" || !cmp.Equal(s.Peers, []string{"web1", "web2", "batch"}) {
		t.Fatalf("server side: %+v", s)
	}
	for _, h := range []string{"web1", "web2", "batch"} {
		c := tunnel(h)
		if c == nil || c.Side != TunnelClient || c.Connect != "10.0.0.1:7017" || c.Listen != "127.0.0.1:27017" || c.Server != "db" || !cmp.Equal(c.Peers, []string{h}) || c.To != "" {
			t.Errorf("client side on %s: %+v", h, c)
		}
		if c != nil && len(c.Openings(nil)) != 0 {
			t.Errorf("a client side opens a port: %+v", c.Openings(nil))
		}
	}
}

// TestTunnelListenRefused: validate refuses a client side on a wildcard or
// public address, or on a name, and says why; loopback and private
// addresses pass.
func TestTunnelListenRefused(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{"0.0.0.0:27017", "wildcard"},
		{"[::]:27017", "wildcard"},
		{"203.0.113.7:27017", "not a loopback or private address"},
		{"[2001:db8::1]:27017", "not a loopback or private address"},
		{"localhost:27017", "must be an IP address"},
		{"127.0.0.1", "ADDRESS:PORT"},
		{"127.0.0.1:27017", ""},
		{"[::1]:27017", ""},
		{"10.1.2.3:27017", ""},
		{"192.168.1.1:5432", ""},
		{"100.100.1.1:5432", ""},
		{"[fd00::1]:5432", ""},
	} {
		repo := strings.Replace(tunnelRepo, "listen: 127.0.0.1:27017", "listen: \""+tc.listen+"\"", 1)
		_, err := Load(writeRepo(t, repo))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("listen %s refused: %v", tc.listen, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "role.yaml:")):
			t.Errorf("listen %s: %v; want an error at its line saying %q", tc.listen, err, tc.want)
		case (tc.want == "wildcard" || strings.HasPrefix(tc.want, "not a")) && !strings.Contains(err.Error(), "ransom"):
			t.Errorf("listen %s: the refusal does not say why: %v", tc.listen, err)
		}
	}
}

// TestTunnelErrors: unknown clients, the server as its own client, and
// missing fields are each reported at their place.
func TestTunnelErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"clients: [web, batch]", "clients: [nosuch]", `"nosuch" is neither a host`},
		{"clients: [web, batch]", "clients: [db]", "is the server host itself"},
		{"    to: \"127.0.0.1:{{.mongo_port}}\"\n", "", "to is required"},
		{"    port: 7017\n", "", "port is required"},
		{"port: 7017", "port: 70000", "out of range"},
		{"to: \"127.0.0.1:{{.mongo_port}}\"", "to: 127.0.0.1", "must be ADDRESS:PORT"},
		{"tunnel: mongo", "tunnel: Mongo_DB", "invalid name"},
		{"    listen: 127.0.0.1:27017\n", "    listen: 127.0.0.1:27017\n    stunnel: [web3]\n", `roles/mongo/role.yaml:8:15: tunnel mongo: stunnel: "web3" is neither the server host db nor one of the link's client hosts`},
	} {
		repo := strings.Replace(tunnelRepo, tc.from, tc.to, 1)
		r, err := Load(writeRepo(t, repo))
		if err == nil {
			_, err = r.Compile("production", "db", nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q: %v; want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestTunnelOpensFirewall: on a server host with a firewall, the link's
// port is open to its client hosts' addresses only.
func TestTunnelOpensFirewall(t *testing.T) {
	r, err := Load(writeRepo(t, strings.Replace(tunnelRepo, "resources:\n  - directory: /srv/mongo\n", "resources:\n  - firewall: db\n  - directory: /srv/mongo\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("production", "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range h.Resources {
		if x.Kind == KindFirewall {
			want := []string{"tcp 22 # tend ssh", "tcp 7017 from 10.0.0.2, 10.0.0.3, 10.0.0.4 # tunnel server"}
			if d := cmp.Diff(want, x.Spec.(*Firewall).Allow); d != "" {
				t.Errorf("firewall of a tunnel's server (-want +got):\n%s", d)
			}
			return
		}
	}
	t.Fatal("no firewall compiled")
}

// TestTunnelStunnel: a side that stunnel4 runs during a migration is
// compiled on its host marked as such (tend writes its credentials, runs
// no daemon), the other sides name that host as their peer, and the
// server's port stays open to the link's clients.
func TestTunnelStunnel(t *testing.T) {
	repo := strings.Replace(tunnelRepo, "resources:\n  - directory: /srv/mongo\n", "resources:\n  - firewall: db\n  - directory: /srv/mongo\n", 1)
	repo = strings.Replace(repo, "    listen: 127.0.0.1:27017\n", "    listen: 127.0.0.1:27017\n    stunnel: [db, web2]\n", 1)
	r, err := Load(writeRepo(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	side := func(host string) (tun *Tunnel, fw *Firewall) {
		h, err := r.Compile("production", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range h.Resources {
			switch s := x.Spec.(type) {
			case *Tunnel:
				tun = s
			case *Firewall:
				fw = s
			}
		}
		return tun, fw
	}
	db, fw := side("db")
	if db == nil || !db.StunnelSide || db.Side != TunnelServer || !slices.Equal(db.Peers, []string{"web1", "web2", "batch"}) {
		t.Errorf("db, stunnel's server side: %+v", db)
	}
	if fw == nil || !slices.Contains(fw.Allow, "tcp 7017 from 10.0.0.2, 10.0.0.3, 10.0.0.4 # tunnel server") {
		t.Errorf("stunnel server's port not open to its clients: %+v", fw)
	}
	if web2, _ := side("web2"); web2 == nil || !web2.StunnelSide || web2.Side != TunnelClient {
		t.Errorf("web2, stunnel's client side: %+v", web2)
	}
	if web1, _ := side("web1"); web1 == nil || web1.StunnelSide || web1.Side != TunnelClient || web1.Connect != "10.0.0.1:7017" {
		t.Errorf("web1, tend's client of a stunnel server: %+v", web1)
	}
}
