package firewall

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// full is a compiled firewall using every feature: both families,
// ranges, any, overlapping sources, forwards with and without
// masquerade, NAT.
var full = &spec.Firewall{
	InputPolicy: "drop", ForwardPolicy: "drop", RevertAfter: "60s",
	Allow: []string{
		"tcp 22 # tend ssh",
		"tcp 5432 from 10.0.0.0/8, 10.1.2.3, 2001:db8::21 # firewall db",
		"udp 60000-61000,53 from any # firewall base",
	},
	Forward: []string{
		"tcp 2525 to 192.0.2.40:25 from 192.0.2.21, 2001:db8::21 # firewall relay",
		"tcp 2525 to [2001:db8::40]:25 from 192.0.2.21, 2001:db8::21 # firewall relay",
		"udp 5353 to 192.0.2.41:53 keep-source # firewall relay",
	},
	NAT: []string{"10.10.0.0/24"},
}

// TestRender compares the rendered ruleset with testdata/full.nft: what a
// plan shows and what nft -f loads (the lab tests load it for real).
func TestRender(t *testing.T) {
	got, err := Render(full)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "full.nft")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("ruleset differs from %s (-want +got):\n%s", golden, d)
	}
}

// TestRenderRefusesUnresolved: a name left in a compiled spec is a bug of
// the compiler, not a rule that allows everyone.
func TestRenderRefusesUnresolved(t *testing.T) {
	for _, s := range []*spec.Firewall{
		{InputPolicy: "drop", ForwardPolicy: "drop", Allow: []string{"tcp 22 from role:web"}},
		{InputPolicy: "drop", ForwardPolicy: "drop", Forward: []string{"tcp 25 to host:mail:25"}},
	} {
		if _, err := Render(s); err == nil {
			t.Errorf("Render(%v) accepted names", s)
		}
	}
}
