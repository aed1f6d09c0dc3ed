package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const siteRepo = `
-- tend.yaml --
name: t
-- roles/app/role.yaml --
resources: []
-- roles/web/role.yaml --
requires: [app]
resources: []
-- roles/edge/role.yaml --
resources:
  - file: /etc/ssl/shop.pem
    content: x
  - file: /etc/ssl/shop.key
    content: x
  - site: shop
    server_names: [shop.example.org]
    tls: {cert_file: /etc/ssl/shop.pem, key_file: /etc/ssl/shop.key}
    upstreams: ["role:app:8080", "host:db:5000", "10.1.1.1:80"]
    locations:
      - {path: /api/, upstreams: ["host:db:9000"]}
      - {path: "/{{.host.name}}/", return: "200 {{.host.name}}"}
-- environments/prod.yaml --
hosts:
  edge:
    address: 192.0.2.1
    roles: [edge]
  a1:
    address: 192.0.2.11
    roles: [app]
  a2:
    address: 2001:db8::12
    roles: [web]
  db:
    address: 192.0.2.20
    roles: []
`

// TestSiteResolve: host: and role: upstreams become the addresses of the
// environment's hosts (a role's through the roles requiring it, IPv6 in
// brackets), literal ones stay as written, and a site comes after the
// files it is served with.
func TestSiteResolve(t *testing.T) {
	r, err := Load(writeRepo(t, siteRepo))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("prod", "edge", nil)
	if err != nil {
		t.Fatal(err)
	}
	var site *Resource
	for _, x := range h.Resources {
		if x.ID == "site:shop" {
			site = x
		}
	}
	s := site.Spec.(*Site)
	want := map[string][]string{
		"role:app:8080": {"192.0.2.11:8080", "[2001:db8::12]:8080"},
		"host:db:5000":  {"192.0.2.20:5000"},
		"host:db:9000":  {"192.0.2.20:9000"},
	}
	if diff := cmp.Diff(want, s.Resolved); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"file:/etc/ssl/shop.pem", "file:/etc/ssl/shop.key"}, site.Requires); diff != "" {
		t.Errorf("requires (-want +got):\n%s", diff)
	}
	if h.Resources[len(h.Resources)-1] != site {
		t.Errorf("the site is not after its files")
	}
	if l := s.Locations[1]; l.Path != "/edge/" || l.Return != "200 edge" {
		t.Errorf("templates in a location: %+v", l)
	}
	if s.HTTPPort != 80 || s.HTTPSPort != 443 || !cmp.Equal(s.Listen, []string{"*", "::"}) {
		t.Errorf("defaults: %d %d %v", s.HTTPPort, s.HTTPSPort, s.Listen)
	}
}

// TestSiteCrossCheck: a site's tls.certificate must be a certificate of
// the same host; two sites cannot answer one name on one port.
func TestSiteCrossCheck(t *testing.T) {
	repo := strings.Replace(siteRepo, `    tls: {cert_file: /etc/ssl/shop.pem, key_file: /etc/ssl/shop.key}`, `    tls: {certificate: shop}`, 1) +
		`-- roles/edge2/role.yaml --
resources:
  - site: again
    server_names: [www.example.org, shop.example.org]
    upstreams: ["10.0.0.1:80"]
`
	repo = strings.Replace(repo, "roles: [edge]", "roles: [edge, edge2]", 1)
	r, err := Load(writeRepo(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Compile("prod", "edge", nil)
	want := `roles/edge/role.yaml:8:24: site shop: tls.certificate: the host declares no certificate shop (add "- certificate: shop" to a role of the host) (host prod/edge)
roles/edge2/role.yaml:3:37: site again: server name shop.example.org on port 80 is also site shop's (host prod/edge)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestSiteParity: two environments whose sites name the same role parity
// as equal, though the role's hosts have other addresses.
func TestSiteParity(t *testing.T) {
	repo := siteRepo + "-- environments/staging.yaml --\nlike: prod\nmay_differ: [hosts.*.address]\n" + strings.ReplaceAll(strings.SplitN(siteRepo, "-- environments/prod.yaml --\n", 2)[1], "192.0.2.", "198.51.100.")
	r, err := Load(writeRepo(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Parity(r, "prod", "staging")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if !d.Allowed {
			t.Errorf("difference not allowed: %+v", d)
		}
	}
}
