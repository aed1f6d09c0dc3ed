package command_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	cat := func(t *testing.T, path string) string {
		t.Helper()
		out, err := l.Enter(t, "host1", "cat", path)
		if err != nil {
			t.Fatalf("cat %s: %v: %s", path, err, out)
		}
		return out
	}
	item := resourcetest.Item
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "run once each",
			Resources: []wire.Item{
				item(spec.KindCommand, "init-data", spec.Command{Run: "mkdir -p /srv/data && echo init >> /srv/data/ready", Creates: "/srv/data/ready"}),
				item(spec.KindCommand, "app-user", spec.Command{Run: "useradd --system app && echo made >> /var/tmp/app-user", Unless: "id app"}),
				item(spec.KindCommand, "migrate", spec.Command{Run: "echo once >> /var/tmp/migrate"}),
				item(spec.KindCommand, "as-app", spec.Command{Run: "id -un > /var/tmp/as-app.who", Creates: "/var/tmp/as-app.who", User: "app"}),
			},
			Check: func(t *testing.T) {
				// Each ran exactly once over the suite's two applies.
				if got := cat(t, "/srv/data/ready"); got != "init\n" {
					t.Errorf("init-data ran: %q", got)
				}
				if got := cat(t, "/var/tmp/app-user"); got != "made\n" {
					t.Errorf("app-user ran: %q", got)
				}
				if got := cat(t, "/var/tmp/migrate"); got != "once\n" {
					t.Errorf("migrate ran: %q", got)
				}
				if got := cat(t, "/var/tmp/as-app.who"); got != "app\n" {
					t.Errorf("as-app ran as %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "changed text: guarded ones stay satisfied, the unguarded one runs again",
			Resources: []wire.Item{
				item(spec.KindCommand, "init-data", spec.Command{Run: "echo again >> /srv/data/ready", Creates: "/srv/data/ready"}),
				item(spec.KindCommand, "app-user", spec.Command{Run: "echo again >> /var/tmp/app-user", Unless: "id app"}),
				item(spec.KindCommand, "migrate", spec.Command{Run: "echo twice >> /var/tmp/migrate"}),
			},
			Check: func(t *testing.T) {
				if got := cat(t, "/srv/data/ready") + cat(t, "/var/tmp/app-user"); got != "init\nmade\n" {
					t.Errorf("a satisfied command ran: %q", got)
				}
				if got := cat(t, "/var/tmp/migrate"); got != "once\ntwice\n" {
					t.Errorf("migrate: %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "left out: forgotten, what they made stays",
			Check: func(t *testing.T) {
				if got := cat(t, "/var/lib/tend/managed.json"); strings.Contains(got, "command:") {
					t.Errorf("commands still recorded:\n%s", got)
				}
				if got := cat(t, "/srv/data/ready") + cat(t, "/var/tmp/migrate"); got != "init\nonce\ntwice\n" {
					t.Errorf("what the commands made changed: %q", got)
				}
			},
		},
		resourcetest.State{
			// Its effects were not undone, and the record of its run
			// stays: declared again, the same command does not run again.
			Name: "declared again: not run again",
			Resources: []wire.Item{
				item(spec.KindCommand, "migrate", spec.Command{Run: "echo twice >> /var/tmp/migrate"}),
				item(spec.KindCommand, "init-data", spec.Command{Run: "echo again >> /srv/data/ready", Creates: "/srv/data/ready"}),
			},
			Check: func(t *testing.T) {
				if got := cat(t, "/srv/data/ready") + cat(t, "/var/tmp/migrate"); got != "init\nonce\ntwice\n" {
					t.Errorf("a command ran again: %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "state absent, of a command tend ran and of one it never saw: nothing to do",
			Resources: []wire.Item{
				{ID: "command:migrate", Kind: string(spec.KindCommand), Name: "migrate", State: wire.Absent},
				{ID: "command:never", Kind: string(spec.KindCommand), Name: "never", State: wire.Absent},
			},
		},
	)
}

// TestPlan: a plan shows each command that would run, with why, and runs
// nothing; a failing command fails the apply with its output.
func TestPlan(t *testing.T) {
	l := labtest.New(t, 1)
	d := &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindCommand, "guarded", spec.Command{Run: "touch /var/tmp/g", Creates: "/var/tmp/g"}),
		resourcetest.Item(spec.KindCommand, "free", spec.Command{Run: "touch /var/tmp/f"}),
	}}
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil || r.Changed != 2 {
		t.Fatalf("plan: %d changes, %v", r.Changed, r.Err)
	}
	want := "command:guarded: run creates absent -> /var/tmp/g\n" +
		"command:free: run guard (none) -> none: runs once, and again when its text or user changes\n"
	if got := resourcetest.Describe(r); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	for _, e := range r.Events {
		if e.Change.Action != resource.Run || !strings.Contains(e.Change.Diff, "$ touch /var/tmp/") {
			t.Errorf("%s: %+v", e.ID, e.Change)
		}
	}
	if out, err := l.Enter(t, "host1", "ls", "/var/tmp/g", "/var/tmp/f"); err == nil {
		t.Errorf("a plan ran a command: %s", out)
	}
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindCommand, "broken", spec.Command{Run: "echo no such thing >&2; exit 4"}),
	}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "command exited 4: no such thing") {
		t.Errorf("apply: %v", r.Err)
	}
}
