package dns_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/libdns/rfc2136"

	"tend/internal/dns"
	"tend/internal/dns/dnstest"
	"tend/internal/spec"
)

func records(t *testing.T, zone string, lines ...string) []spec.DNSRecord {
	t.Helper()
	var out []spec.DNSRecord
	for _, l := range lines {
		r, err := spec.ParseRecord(zone, l, 300)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// converge plans zone z against Knot, applies, and returns the plan's
// changes as "+ www A" lines; the plan after it must be empty.
func converge(t *testing.T, z *dns.Zone) []string {
	t.Helper()
	ctx := context.Background()
	cur, err := dns.Current(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	p := dns.Diff(z, cur)
	if err := dns.Apply(ctx, z, p); err != nil {
		t.Fatal(err)
	}
	cur, err = dns.Current(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	if again := dns.Diff(z, cur); len(again.Changes) > 0 {
		t.Errorf("the plan after apply is not empty: %+v", again.Changes)
	}
	var out []string
	for _, c := range p.Changes {
		if strings.HasPrefix(c.Name, "_tend") {
			continue
		}
		s := map[dns.Action]string{dns.Create: "+", dns.Update: "~", dns.Delete: "-"}[c.Action] + " " + c.Name + " " + c.Type
		if c.Purge {
			s += " (purge)"
		}
		out = append(out, s)
	}
	return out
}

// TestKnotConverge: a series of desired states applied to a real Knot
// through RFC 2136 with TSIG: records are created, updated and deleted,
// checked by querying Knot; the plan after each apply is empty; records
// tend never declared stay, until the zone purges, and then each is
// listed.
func TestKnotConverge(t *testing.T) {
	k := dnstest.Start(t, "example.org", "legacy A 192.0.2.99\nlegacy TXT \"by hand\"\n")
	p := &rfc2136.Provider{KeyName: k.KeyName, KeyAlg: k.KeyAlg, Key: k.Secret, Server: k.Addr}
	z := &dns.Zone{Name: "example.org", Where: "rfc2136 server " + k.Addr, Provider: p}

	z.Records = records(t, z.Name, "www A 192.0.2.1", "@ MX 10 mail", "mail A 192.0.2.2", `@ TXT "v=spf1 mx -all"`, `_dmarc TXT "v=DMARC1; p=reject"`)
	if diff := cmp.Diff([]string{"+ @ MX", "+ @ TXT", "+ _dmarc TXT", "+ mail A", "+ www A"}, converge(t, z)); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}
	for _, q := range [][3]string{{"www", "A", "192.0.2.1"}, {"@", "MX", "10 mail.example.org."}, {"@", "TXT", `"v=spf1 mx -all"`}, {"_dmarc", "TXT", `"v=DMARC1; p=reject"`}, {"legacy", "A", "192.0.2.99"}} {
		if got := k.Lookup(t, q[0], q[1]); !cmp.Equal(got, []string{q[2]}) {
			t.Errorf("%s %s: Knot answers %q, want %q", q[0], q[1], got, q[2])
		}
	}

	// Update www, move mail to a CNAME, drop the DMARC record.
	z.Records = records(t, z.Name, "www A 192.0.2.5", "www A 192.0.2.6", "@ MX 10 mail", "mail CNAME www", `@ TXT "v=spf1 mx -all"`)
	if diff := cmp.Diff([]string{"- _dmarc TXT", "- mail A", "+ mail CNAME", "~ www A"}, converge(t, z)); diff != "" {
		t.Errorf("second apply (-want +got):\n%s", diff)
	}
	if got := k.Lookup(t, "www", "A"); !cmp.Equal(got, []string{"192.0.2.5", "192.0.2.6"}) {
		t.Errorf("www A: %q", got)
	}
	if got := k.Lookup(t, "_dmarc", "TXT"); len(got) != 0 {
		t.Errorf("_dmarc TXT still served: %q", got)
	}
	if got := k.Lookup(t, "mail", "CNAME"); !cmp.Equal(got, []string{"www.example.org."}) {
		t.Errorf("mail CNAME: %q", got)
	}
	if got := k.Lookup(t, "legacy", "TXT"); !cmp.Equal(got, []string{`"by hand"`}) {
		t.Errorf("an unmanaged record changed: legacy TXT %q", got)
	}

	// Purge: the unmanaged records go, one line each; the zone's SOA
	// and NS, and its name server's address, stay.
	z.Purge = true
	got := converge(t, z)
	if diff := cmp.Diff([]string{"- legacy A (purge)", "- legacy TXT (purge)"}, got); diff != "" {
		t.Errorf("purge (-want +got):\n%s", diff)
	}
	if got := k.Lookup(t, "legacy", "A"); len(got) != 0 {
		t.Errorf("legacy A survived the purge: %q", got)
	}
	if got := k.Lookup(t, "@", "NS"); len(got) != 1 {
		t.Errorf("the zone's NS: %q", got)
	}
	if got := k.Lookup(t, "ns", "A"); len(got) != 1 {
		t.Errorf("the name server's address: %q", got)
	}
}

// TestKnotBadKey: a wrong TSIG key is refused by Knot; the error names the
// zone and the server, and nothing changed.
func TestKnotBadKey(t *testing.T) {
	k := dnstest.Start(t, "example.org", "")
	p := &rfc2136.Provider{KeyName: k.KeyName, KeyAlg: k.KeyAlg, Key: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", Server: k.Addr}
	z := &dns.Zone{Name: "example.org", Where: "rfc2136 server " + k.Addr, Provider: p, Records: records(t, "example.org", "www A 192.0.2.1")}
	_, err := dns.Current(context.Background(), z)
	if err == nil || !strings.Contains(err.Error(), "dns zone example.org (rfc2136 server "+k.Addr+")") {
		t.Fatalf("reading with a wrong key: %v", err)
	}
	if err := dns.Apply(context.Background(), z, dns.Diff(z, nil)); err == nil || !strings.Contains(err.Error(), "example.org") {
		t.Fatalf("updating with a wrong key: %v", err)
	}
	if got := k.Lookup(t, "www", "A"); len(got) != 0 {
		t.Errorf("an update signed with a wrong key was accepted: %q", got)
	}
}
