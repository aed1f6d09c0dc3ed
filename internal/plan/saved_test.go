package plan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/hint"
	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestSavedPlanIsWhatApplies: apply of a saved plan makes the plan's
// changes and nothing else, without planning again; a host or repository
// that changed between plan and apply is refused at the first change the
// plan did not show, and nothing after it is touched.
func TestSavedPlanIsWhatApplies(t *testing.T) {
	l := labtest.New(t, 1)
	bin := resourcetest.Agent(t)
	desired := func(b string) *wire.Desired {
		return &wire.Desired{Protocol: wire.Protocol, Host: "host1", Resources: []wire.Item{
			resourcetest.Item(spec.KindDirectory, "/srv/app", spec.Directory{Mode: "0755"}),
			resourcetest.Item(spec.KindFile, "/srv/app/a", spec.File{Content: "one\n", Mode: "0644"}),
			resourcetest.Item(spec.KindFile, "/srv/app/b", spec.File{Content: b, Mode: "0644"}),
		}}
	}
	run := func(mode wire.Mode, d *wire.Desired) plan.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return plan.Run(ctx, []plan.Target{resourcetest.Target(t, l, "host1", d)}, plan.Options{Mode: mode, Agent: bin})[0]
	}
	// save plans desired on the host and saves it to a file; apply reads
	// the file back and applies it with a desired state made anew, as
	// tend apply --plan does.
	save := func(name string, d *wire.Desired) string {
		t.Helper()
		r := run(wire.Plan, d)
		if r.Err != nil {
			t.Fatalf("plan: %v", r.Err)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := plan.NewSaved("prod", []plan.Result{r}).Write(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	apply := func(path string, d *wire.Desired) plan.Result {
		t.Helper()
		p, err := plan.ReadSaved(path, "prod")
		if err != nil {
			t.Fatal(err)
		}
		targets := []plan.Target{{Name: "host1", Desired: d}}
		if err := p.Bind(targets); err != nil {
			t.Fatal(err)
		}
		return run(wire.Apply, d)
	}
	cat := func(f string) string { return l.Run(t, "host1", "cat "+f) }

	t.Run("applied exactly", func(t *testing.T) {
		path := save("first.json", desired("two\n"))
		r := apply(path, desired("two\n"))
		if r.Err != nil || r.Changed != 3 {
			t.Fatalf("apply: %d changes, err %v; want the plan's 3:\n%s", r.Changed, r.Err, resourcetest.Describe(r))
		}
		if a, b := cat("/srv/app/a"), cat("/srv/app/b"); a != "one\n" || b != "two\n" {
			t.Errorf("host: a %q, b %q", a, b)
		}
		if after := run(wire.Plan, desired("two\n")); after.Changed+after.Removed != 0 {
			t.Errorf("plan after apply: %s", resourcetest.Describe(after))
		}
	})

	stale := func(t *testing.T, r plan.Result, why string) {
		t.Helper()
		if r.Err == nil || !strings.Contains(r.Err.Error(), "the saved plan is stale: "+why) ||
			hint.Of(r.Err) != "the host changed since the plan was made: run tend plan again" {
			t.Fatalf("apply of a stale plan: %v (hint %q)", r.Err, hint.Of(r.Err))
		}
	}

	t.Run("host changed between plan and apply", func(t *testing.T) {
		l.Run(t, "host1", "echo drift > /srv/app/b")
		path := save("drift.json", desired("two\n")) // lists b only
		l.Run(t, "host1", "echo drift > /srv/app/a")
		r := apply(path, desired("two\n"))
		stale(t, r, "it does not list this change")
		if r.Diag == nil || r.Diag.Resource != "file:/srv/app/a" {
			t.Errorf("diagnostic: %+v; want it about file:/srv/app/a", r.Diag)
		}
		if a, b := cat("/srv/app/a"), cat("/srv/app/b"); a != "drift\n" || b != "drift\n" {
			t.Errorf("host after a refused apply: a %q, b %q; want both untouched", a, b)
		}
	})

	t.Run("repository changed between plan and apply", func(t *testing.T) {
		l.Run(t, "host1", "echo one > /srv/app/a")
		path := save("repo.json", desired("two\n")) // b: drift -> two
		r := apply(path, desired("three\n"))
		stale(t, r, "the host would change otherwise than the plan shows")
		if b := cat("/srv/app/b"); b != "drift\n" {
			t.Errorf("b after a refused apply: %q", b)
		}
	})

	t.Run("nothing planned, something changed", func(t *testing.T) {
		l.Run(t, "host1", "echo two > /srv/app/b")
		path := save("empty.json", desired("two\n")) // no change at all
		l.Run(t, "host1", "echo drift > /srv/app/b")
		stale(t, apply(path, desired("two\n")), "it does not list this change")
		if b := cat("/srv/app/b"); b != "drift\n" {
			t.Errorf("b after a refused apply: %q", b)
		}
	})
}

// TestSavedPlanFile: a saved plan is for one environment and its own
// hosts; another format or environment, and another set of hosts, are
// refused with what to do.
func TestSavedPlanFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	rs := []plan.Result{{Host: "web"}, {Host: "db", Err: os.ErrDeadlineExceeded}}
	if err := plan.NewSaved("prod", rs).Write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.ReadSaved(path, "staging"); err == nil || err.Error() != path+" is a plan for prod, not staging" {
		t.Errorf("another environment: %v", err)
	}
	p, err := plan.ReadSaved(path, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.HostNames(), ","); got != "db,web" {
		t.Errorf("hosts: %s", got)
	}
	web := plan.Target{Name: "web", Desired: &wire.Desired{}}
	if err := p.Bind([]plan.Target{web}); err == nil ||
		!strings.Contains(err.Error(), "is stale: host db is no longer part of the run") {
		t.Errorf("a host left out: %v", err)
	}
	db := plan.Target{Name: "db", Desired: &wire.Desired{}}
	other := plan.Target{Name: "mail", Desired: &wire.Desired{}}
	err = p.Bind([]plan.Target{web, db, other})
	if err == nil || !strings.Contains(err.Error(), "host db failed when the plan was made; host mail was not in the plan") ||
		hint.Of(err) != "the hosts or the repository changed since it was made: run tend plan again" {
		t.Errorf("a failed host and an extra one: %v (hint %q)", err, hint.Of(err))
	}

	ok := plan.NewSaved("prod", rs[:1])
	if err := ok.Bind([]plan.Target{web}); err != nil || web.Desired.Expect == nil || len(web.Desired.Expect) != 0 {
		t.Errorf("bind: %v, expect %#v; want an empty, non-nil map", err, web.Desired.Expect)
	}

	os.WriteFile(path, []byte(`{"version": 1, "env": "prod", "hosts": {"web": ["x"]}}`), 0o644)
	if _, err := plan.ReadSaved(path, "prod"); err == nil || !strings.Contains(err.Error(), "not a plan saved by this version") ||
		hint.Of(err) != "make it again: tend plan prod --out "+path {
		t.Errorf("an old plan: %v (hint %q)", err, hint.Of(err))
	}
}
