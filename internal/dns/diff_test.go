package dns_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/dns"
	"tend/internal/spec"
)

// TestDiffOwnership: what tend deletes is what its markers say it owns.
// A hand-made TXT beside a record set tend owns stays; a hand-made record
// set the spec now declares is taken over (replaced); a name that leaves
// the spec loses exactly the types its marker lists, and the marker.
func TestDiffOwnership(t *testing.T) {
	z := &dns.Zone{Name: "example.org", Records: records(t, "example.org", "www A 192.0.2.1", "api A 192.0.2.3")}
	current := records(t, "example.org",
		"www A 192.0.2.9", `www TXT "hand-made"`,
		"api A 192.0.2.4",
		"old A 192.0.2.5", "old AAAA 2001:db8::5", `old TXT "hand-made too"`)
	for _, m := range [][2]string{{"_tend.www", "tend owns A"}, {"_tend.old", "tend owns A,AAAA"}} {
		r, err := spec.CanonicalRecord("example.org", m[0], 300, "TXT", m[1], false)
		if err != nil {
			t.Fatal(err)
		}
		current = append(current, r)
	}
	var got []string
	for _, c := range dns.Diff(z, current).Changes {
		got = append(got, string(c.Action)+" "+c.Name+" "+c.Type)
	}
	want := []string{
		"create _tend.api TXT", "update api A",
		"delete _tend.old TXT", "delete old A", "delete old AAAA",
		"update www A",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}
