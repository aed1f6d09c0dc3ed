package envdir_test

import (
	"encoding/json"
	"strings"
	"testing"

	"tend/internal/envdir"
	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	run := func(t *testing.T, args ...string) string { t.Helper(); return l.MustEnter(t, "host1", args...) }
	// vars reads the directory on the host as envdir does.
	vars := func(t *testing.T, dir string) map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, name := range strings.Fields(run(t, "ls", dir)) {
			v, unset := envdir.Value([]byte(run(t, "cat", dir+"/"+name)))
			if unset {
				v = "(unset)"
			}
			got[name] = v
		}
		return got
	}
	expect := func(t *testing.T, dir string, want map[string]string, dirStat, fileStat string) {
		t.Helper()
		got := vars(t, dir)
		if len(got) != len(want) {
			t.Errorf("variables %q, want %q", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
			if s := strings.TrimSpace(run(t, "stat", "-c", "%a %U:%G", dir+"/"+k)); s != fileStat {
				t.Errorf("%s: %s, want %s", k, s, fileStat)
			}
		}
		if s := strings.TrimSpace(run(t, "stat", "-c", "%a %U:%G", dir)); s != dirStat {
			t.Errorf("%s: %s, want %s", dir, s, dirStat)
		}
	}
	// A stray variable and a dot file already there.
	l.Run(t, "host1", "mkdir -p /etc/app/env && echo stale > /etc/app/env/OLD && touch /etc/app/env/.keep")
	const dir = "/etc/app/env"
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindEnvdir, dir, spec.Envdir{Vars: map[string]string{"PORT": "8080", "EMPTY": "", "MOTD": "two\nlines"}}),
			},
			Check: func(t *testing.T) {
				expect(t, dir, map[string]string{"PORT": "8080", "EMPTY": "", "MOTD": "two\nlines"}, "755 root:root", "644 root:root")
				run(t, "test", "-e", dir+"/.keep")
			},
		},
		resourcetest.State{
			Name: "secret: change, remove, owner",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindEnvdir, dir, spec.Envdir{Secret: true, Owner: "nobody", Group: "nogroup",
					Vars: map[string]string{"PORT": "9090", "DATABASE_URL": "postgres://app:pw@db/app"}}),
			},
			Check: func(t *testing.T) {
				expect(t, dir, map[string]string{"PORT": "9090", "DATABASE_URL": "postgres://app:pw@db/app"}, "700 nobody:nogroup", "600 nobody:nogroup")
			},
		},
		resourcetest.State{
			Name: "not secret again",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindEnvdir, dir, spec.Envdir{Vars: map[string]string{"PORT": "9090"}}),
			},
			Check: func(t *testing.T) {
				expect(t, dir, map[string]string{"PORT": "9090"}, "755 root:root", "644 root:root")
			},
		},
	)
}

// TestSecretPlan: the plan of a secret envdir shows which variables change,
// never their values, even when the item is not marked sensitive.
func TestSecretPlan(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", "mkdir -p /etc/s && echo old-canary-1 > /etc/s/TOKEN && echo old-canary-2 > /etc/s/GONE")
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindEnvdir, "/etc/s", spec.Envdir{Secret: true, Vars: map[string]string{"TOKEN": "new-canary-3", "KEY": "new-canary-4"}}),
	}})
	if r.Err != nil || r.Changed != 1 {
		t.Fatalf("plan: %d changes, %v", r.Changed, r.Err)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "canary") {
		t.Errorf("a secret value left the host: %s", b)
	}
	want := "envdir:/etc/s: update dir mode 0755 -> 0700, GONE (sensitive) -> (removed), KEY (none) -> (sensitive), TOKEN (sensitive) -> (sensitive value changed), TOKEN mode 0644 -> 0600\n"
	if got := resourcetest.Describe(r); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
}
