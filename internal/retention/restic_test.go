package retention

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/testenv"
)

// TestAgainstRestic applies the reference policies with the real restic
// (Debian's package, 0.14) to snapshots created with --time at the same
// instants as the simulated items, and demands the same survivors for the
// same reasons. restic pays a key derivation per command (about 0.7 s), so
// this uses the 48 hourly items and the 40 daily ones before them (crossing
// a month and several ISO weeks), not the whole year.
func TestAgainstRestic(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 88 restic snapshots (about a minute)")
	}
	bin, err := exec.LookPath("restic")
	testenv.Need(t, "restic (apt-get install restic)", err)

	all := simulated(t)
	items := all[len(all)-88:]
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "RESTIC_PASSWORD=test", "RESTIC_REPOSITORY="+filepath.Join(dir, "repo"),
		"TZ=Europe/Paris", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	restic := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	restic("init", "-q")
	for _, it := range items {
		restic("backup", "-q", "--no-cache", "--host", "h", "--time", it.Time.Format(time.DateTime), data)
	}

	names := map[string]string{"last snapshot": "last", "hourly snapshot": "hourly", "daily snapshot": "daily",
		"weekly snapshot": "weekly", "monthly snapshot": "monthly", "yearly snapshot": "yearly"}
	for _, g := range goldenPolicies {
		if g.p.Last < 0 || g.p.Hourly < 0 || g.p.Daily < 0 || g.p.Weekly < 0 || g.p.Monthly < 0 || g.p.Yearly < 0 {
			continue // restic 0.14 has no "unlimited"
		}
		t.Run(g.file, func(t *testing.T) {
			args := []string{"forget", "--dry-run", "--json", "--no-cache"}
			for _, f := range []struct {
				flag string
				n    int
			}{{"--keep-last", g.p.Last}, {"--keep-hourly", g.p.Hourly}, {"--keep-daily", g.p.Daily},
				{"--keep-weekly", g.p.Weekly}, {"--keep-monthly", g.p.Monthly}, {"--keep-yearly", g.p.Yearly}} {
				if f.n != 0 {
					args = append(args, f.flag, strconv.Itoa(f.n))
				}
			}
			if g.p.Within != 0 {
				args = append(args, "--keep-within", FormatDuration(g.p.Within))
			}
			var groups []struct {
				Keep    []struct{ Time time.Time }
				Reasons []struct {
					Snapshot struct{ Time time.Time }
					Matches  []string
				}
			}
			if err := json.Unmarshal(restic(args...), &groups); err != nil || len(groups) != 1 {
				t.Fatalf("restic forget output: %d groups, %v", len(groups), err)
			}
			want := map[string]string{}
			for _, r := range groups[0].Reasons {
				var rs []string
				for _, m := range r.Matches {
					if n, ok := names[m]; ok {
						m = n
					}
					rs = append(rs, m)
				}
				want[r.Snapshot.Time.Format(time.RFC3339)] = strings.Join(rs, ",")
			}
			if len(want) != len(groups[0].Keep) {
				t.Fatalf("restic kept %d snapshots but gave %d reasons", len(groups[0].Keep), len(want))
			}
			got := map[string]string{}
			for _, d := range g.p.Apply(items) {
				if d.Keep {
					got[d.Item.Time.Format(time.RFC3339)] = strings.Join(d.Reasons, ",")
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: survivors differ from restic's (-restic +tend):\n%s", g.p, diff)
			}
		})
	}
}
