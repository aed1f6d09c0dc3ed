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
	if t.Failed() {
		return
	}

	// Removal: tend's directories go with their files; one that existed
	// before tend, or that holds a file tend did not write, stays.
	appEnv := resourcetest.Item(spec.KindEnvdir, dir, spec.Envdir{Vars: map[string]string{"PORT": "9090"}})
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "two more",
			Resources: []wire.Item{
				appEnv,
				resourcetest.Item(spec.KindEnvdir, "/srv/e1", spec.Envdir{Vars: map[string]string{"A": "1", "B": "2"}}),
				resourcetest.Item(spec.KindEnvdir, "/srv/e2", spec.Envdir{Secret: true, Vars: map[string]string{"C": "3"}}),
			},
		},
	)
	if t.Failed() {
		return
	}
	l.Run(t, "host1", "echo mine > /srv/e2/HANDMADE")
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{})
	got := resourcetest.Describe(r)
	for _, want := range []string{
		"envdir:/srv/e2: keep /srv/e2 holds an entry tend did not write (HANDMADE): it stays, with all its files",
		"envdir:/srv/e1: delete directory /srv/e1 -> (none), variables A,B -> (none)",
		"envdir:/etc/app/env: keep the directory /etc/app/env existed before tend managed it: it stays, with its files",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan without the envdirs lacks %q:\n%s", want, got)
		}
	}
	if r.Err != nil || r.Removed != 3 {
		t.Fatalf("plan: %d removals, err %v:\n%s", r.Removed, r.Err, got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "left out",
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "test", "-e", "/srv/e1"); err == nil {
					t.Errorf("/srv/e1 is still there: %s", out)
				}
				if got := vars(t, "/srv/e2"); len(got) != 2 || got["C"] != "3" || got["HANDMADE"] != "mine" {
					t.Errorf("/srv/e2 holds %q, want C and HANDMADE", got)
				}
				expect(t, dir, map[string]string{"PORT": "9090"}, "755 root:root", "644 root:root")
			},
		},
	)
	if t.Failed() {
		return
	}
	absent := func(path string) wire.Item {
		return wire.Item{ID: "envdir:" + path, Kind: string(spec.KindEnvdir), Name: path, State: wire.Absent}
	}
	// state: absent deletes any variable file, but not a dot file.
	r = resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{absent(dir)}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "/etc/app/env holds an entry tend did not write (.keep)") {
		t.Fatalf("plan of state absent with a dot file: err %v, want it named", r.Err)
	}
	l.Run(t, "host1", "rm /etc/app/env/.keep")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "state absent",
			Resources: []wire.Item{absent(dir), absent("/srv/e2")},
			Check: func(t *testing.T) {
				for _, p := range []string{dir, "/srv/e2"} {
					if out, err := l.Enter(t, "host1", "test", "-e", p); err == nil {
						t.Errorf("%s is still there: %s", p, out)
					}
				}
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
