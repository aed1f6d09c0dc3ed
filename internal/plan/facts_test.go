package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseProbe: what the probe prints becomes the facts templates see,
// addresses sorted and without duplicates, whatever order ip printed.
func TestParseProbe(t *testing.T) {
	p := parseProbe("machine=aarch64\nagent=present\nos_id=debian\nos_version_id=12\nos_codename=bookworm\ncpus=4\nmemory_kb=2048000\n" +
		"address=fd00::2\naddress=10.0.0.2\naddress=10.0.0.2\nnoise\n")
	if p.machine != "aarch64" || !p.present {
		t.Errorf("machine %q present %v", p.machine, p.present)
	}
	want := map[string]any{
		"os":   map[string]any{"id": "debian", "version_id": "12", "codename": "bookworm"},
		"arch": "arm64", "cpus": 4, "memory_mb": 2000, "addresses": []any{"10.0.0.2", "fd00::2"},
	}
	if d := cmp.Diff(want, p.facts); d != "" {
		t.Errorf("facts (-want +got):\n%s", d)
	}
	if q := parseProbe("machine=x86_64\n"); q.present || q.facts["arch"] != "amd64" || q.facts["cpus"] != 0 {
		t.Errorf("a probe without facts: %+v", q)
	}
}
