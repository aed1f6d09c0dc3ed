package spec

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDNSDerived: the records a user gets without writing them: a site's
// server names inside a zone point at every host serving the site (A or
// AAAA by the address), a host named inside a zone gets its address, a
// name outside the zone gets nothing, and declared records come first.
// A lab rehearsal's addresses replace the declared ones.
func TestDNSDerived(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"tend.yaml": "name: d\n",
		"environments/production.yaml": `hosts:
  web1: {address: 192.0.2.1, roles: [web]}
  web2: {address: "2001:db8::2", roles: [web]}
  db.example.org: {address: 192.0.2.3}
  other: {address: host.example.net, roles: [web]}
dns:
  example.org:
    provider: gandi
    token: vault_gandi
    ttl: 600
    records:
      - '@ MX 10 mail.example.net.'
      - 'www 60 TXT "hello" "world"'
`,
		"roles/web/role.yaml": `resources:
  - site: www
    server_names: [www.example.org, example.org, www.example.com]
    root: /srv/www
`,
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	records := func() []string {
		var hosts []*Host
		for _, h := range r.Environments["production"].Hosts {
			c, err := r.Compile("production", h.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, c)
		}
		zones, err := r.DNS("production", hosts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rec := range zones[0].Records {
			out = append(out, rec.Name+" "+rec.Type+" "+rec.Data+" "+itoa(rec.TTL)+" "+rec.From)
		}
		return out
	}
	want := []string{
		"@ MX 10 mail.example.net. 600 ",
		"www TXT helloworld 60 ",
		"www A 192.0.2.1 600 site www on host web1",
		"@ A 192.0.2.1 600 site www on host web1",
		"www AAAA 2001:db8::2 600 site www on host web2",
		"@ AAAA 2001:db8::2 600 site www on host web2",
		"db A 192.0.2.3 600 host db.example.org",
	}
	if diff := cmp.Diff(want, records()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	r.Addresses = map[string]string{"web1": "10.0.0.1", "web2": "10.0.0.2", "db.example.org": "10.0.0.3"}
	if got := records(); got[2] != "www A 10.0.0.1 600 site www on host web1" || got[4] != "www A 10.0.0.2 600 site www on host web2" || got[6] != "db A 10.0.0.3 600 host db.example.org" {
		t.Errorf("a lab rehearsal's records do not follow the lab's addresses: %q", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestParseRecord: records as users write them, in canonical form; the
// owner name may spell the type ("a A ...").
func TestParseRecord(t *testing.T) {
	for in, want := range map[string]string{
		"A A 192.0.2.1":                       "a 300 A 192.0.2.1",
		"@ 60 IN MX 10 mail":                  "@ 60 MX 10 mail.example.org.",
		`_dmarc TXT "v=DMARC1; p=reject"`:     "_dmarc 300 TXT v=DMARC1; p=reject",
		`k._domainkey TXT "p=AB" "CD"`:        "k._domainkey 300 TXT p=ABCD",
		"www.example.org. CNAME example.org.": "www 300 CNAME example.org.",
		"@ CAA 0 issue \"letsencrypt.org\"":   "@ 300 CAA 0 issue \"letsencrypt.org\"",
		"_sip._tcp SRV 0 5 5060 sip":          "_sip._tcp 300 SRV 0 5 5060 sip.example.org.",
	} {
		r, err := ParseRecord("example.org", in, 300)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := r.Name + " " + strconv.Itoa(r.TTL) + " " + r.Type + " " + r.Data; got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

// FuzzParseRecord: any string is a record or an error, and a record's
// canonical form reads back as itself (plan compares canonical forms: a
// form that changed when read again would be a change in every plan).
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"www A 192.0.2.1", `@ TXT "a" "c"`, "@ MX 10 mail", "x 60 AAAA 2001:db8::1", "* CNAME @", "a SRV 0 0 1 b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord("example.org", s, 300)
		if err != nil {
			return
		}
		again, err := CanonicalRecord("example.org", r.Name, r.TTL, r.Type, r.Data, r.Type != "TXT")
		if err != nil {
			t.Fatalf("%q: canonical %+v does not read back: %v", s, r, err)
		}
		if again.Name != r.Name || again.Type != r.Type || again.Data != r.Data || again.TTL != r.TTL {
			t.Fatalf("%q: %+v reads back as %+v", s, r, again)
		}
	})
}

// TestCertificateDNS01: a dns-01 certificate gets the zone holding its
// names (the longest), with its provider and the credentials' values, and
// is sensitive; without secrets (validate), placeholders.
func TestCertificateDNS01(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"tend.yaml": "name: d\n",
		"environments/production.yaml": `hosts:
  web: {address: 192.0.2.1, roles: [web]}
dns:
  example.org:
    provider: gandi
    token: vault_gandi
  int.example.org:
    provider: rfc2136
    server: 192.0.2.53:53
    key_name: tend
    key_secret: vault_tsig
`,
		"roles/web/role.yaml": "resources:\n  - certificate: wild\n    names: ['*.int.example.org', int.example.org]\n    challenge: dns-01\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		secrets map[string]string
		key     string
	}{{map[string]string{"vault_tsig": "S3CRET", "vault_gandi": "T"}, "S3CRET"}, {nil, SecretPlaceholder("vault_tsig")}} {
		h, err := r.Compile("production", "web", c.secrets)
		if err != nil {
			t.Fatal(err)
		}
		res := h.Resources[0]
		got := res.Spec.(*Certificate).DNS
		want := &CertDNS{Zone: "int.example.org", Provider: DNSRFC2136, Server: "192.0.2.53:53", KeyName: "tend", KeyAlgorithm: "hmac-sha256",
			Endpoint: "ovh-eu", Credentials: map[string]string{"key_secret": c.key}}
		if diff := cmp.Diff(want, got); diff != "" || !res.Sensitive {
			t.Errorf("dns (-want +got):\n%s\nsensitive %v", diff, res.Sensitive)
		}
	}
	if _, err := r.Compile("production", "web", map[string]string{"vault_gandi": "T"}); err == nil || !strings.Contains(err.Error(), "environments/production.yaml:11:17: secret vault_tsig (dns zone int.example.org, for certificate wild) has no value") {
		t.Errorf("a missing credential: %v", err)
	}
}
