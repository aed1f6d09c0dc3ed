package agent_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// removals returns "id action" for each removal event of a result.
func removals(r plan.Result) map[string]wire.Action {
	out := map[string]wire.Action{}
	for _, e := range r.Events {
		if e.Removal && e.Change != nil {
			out[e.ID] = e.Change.Action
		}
	}
	return out
}

// recorded returns the ids in the host's record of managed resources.
func recorded(t *testing.T, l *labtest.Lab) []string {
	t.Helper()
	out := l.Run(t, "host1", "cat /var/lib/tend/managed.json 2>/dev/null || echo '{}'")
	var f struct {
		Entries []struct {
			ID string `json:"id"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("record on the host: %v\n%s", err, out)
	}
	var ids []string
	for _, e := range f.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestRemovalByOmission: what tend created and the spec no longer declares
// is removed from the host; what existed before tend managed it is put
// back (a symlink's old target) or kept and said so; a directory holding
// files tend does not manage is kept; the plan shows each removal before
// apply makes it, and the plan after apply is empty.
func TestRemovalByOmission(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", "mkdir -p /srv && echo before > /srv/pre && ln -s /etc/hosts /srv/prelink")
	state := []wire.Item{
		resourcetest.Item(spec.KindDirectory, "/srv/app", spec.Directory{}),
		resourcetest.Item(spec.KindFile, "/srv/app/conf", spec.File{Content: "x=1\n"}),
		resourcetest.Item(spec.KindSymlink, "/srv/link", spec.Symlink{Target: "/srv/app/conf"}),
		resourcetest.Item(spec.KindFile, "/srv/pre", spec.File{Content: "tend\n"}),
		resourcetest.Item(spec.KindSymlink, "/srv/prelink", spec.Symlink{Target: "/etc/hostname"}),
		resourcetest.Item(spec.KindDirectory, "/srv/data", spec.Directory{}),
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: state}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := recorded(t, l); len(got) != len(state) {
		t.Fatalf("record after the first apply: %v", got)
	}
	l.Run(t, "host1", "echo uploaded > /srv/data/user-file")

	// Everything leaves the spec but one file.
	keep := []wire.Item{resourcetest.Item(spec.KindFile, "/srv/other", spec.File{Content: "y\n"})}
	d := &wire.Desired{Resources: keep}
	p := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	want := map[string]wire.Action{
		"file:/srv/app/conf": wire.Delete, "directory:/srv/app": wire.Delete, "symlink:/srv/link": wire.Delete,
		"file:/srv/pre": wire.Keep, "symlink:/srv/prelink": wire.Update, "directory:/srv/data": wire.Keep,
	}
	if got := removals(p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan removals:\n got %v\nwant %v", got, want)
	}
	if p.Removed != len(want) || p.Changed != 1 {
		t.Fatalf("plan counts: %d removed, %d changed", p.Removed, p.Changed)
	}
	l.Run(t, "host1", "test -f /srv/app/conf") // the plan changed nothing

	// Removals come last, in reverse order: the file before its directory.
	r := resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
	}
	var order []string
	for _, e := range r.Events {
		if e.Removal {
			order = append(order, e.ID)
		}
	}
	if len(order) < 2 || order[len(order)-1] != "directory:/srv/app" {
		t.Fatalf("removal order: %v", order)
	}
	got := l.Run(t, "host1", "ls -d /srv/app /srv/link 2>&1 | grep -c 'No such'; cat /srv/pre; readlink /srv/prelink; cat /srv/data/user-file")
	if got != "2\ntend\n/etc/hosts\nuploaded\n" {
		t.Fatalf("host after the removals:\n%s", got)
	}
	if ids := recorded(t, l); len(ids) != 1 || ids[0] != "file:/srv/other" {
		t.Fatalf("record after the removals: %v", ids)
	}
	again := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if again.Err != nil || again.Changed != 0 || again.Removed != 0 {
		t.Fatalf("plan after apply: %v, %d changed, %d removed\n%s", again.Err, again.Changed, again.Removed, resourcetest.Describe(again))
	}

	// Explicit removal of what tend never created: a file goes; a
	// directory with contents needs delete_data.
	l.Run(t, "host1", "mkdir -p /srv/old && echo x > /srv/old/a && echo y > /srv/hand")
	gone := resourcetest.Item(spec.KindFile, "/srv/hand", spec.File{})
	gone.State = wire.Absent
	dir := resourcetest.Item(spec.KindDirectory, "/srv/old", spec.Directory{})
	dir.State = wire.Absent
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: append(keep, gone, dir)})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "delete_data") {
		t.Fatalf("explicit removal of a directory with contents, without delete_data: %v", r.Err)
	}
	l.Run(t, "host1", "test ! -e /srv/hand && test -f /srv/old/a")
	dir.DeleteData = true
	resourcetest.Converge(t, l, "host1", resourcetest.State{
		Name:      "explicit absent",
		Resources: append(keep, gone, dir),
		Check:     func(t *testing.T) { l.Run(t, "host1", "test ! -e /srv/old && test ! -e /srv/hand") },
	})
}

// TestKilledRemoval kills the agent in the middle of removing 2000 files:
// the next apply finishes the removals, and the record then holds exactly
// what the spec declares.
func TestKilledRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	const n = 2000
	dirItem := resourcetest.Item(spec.KindDirectory, "/srv/many", spec.Directory{})
	items := []wire.Item{dirItem}
	for i := 0; i < n; i++ {
		items = append(items, resourcetest.Item(spec.KindFile, fmt.Sprintf("/srv/many/f%04d", i), spec.File{Content: "x\n"}))
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: items}); r.Err != nil {
		t.Fatal(r.Err)
	}
	d := &wire.Desired{Resources: []wire.Item{items[0]}}
	done := make(chan plan.Result, 1)
	go func() { done <- resourcetest.Run(t, l, "host1", wire.Apply, d) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := l.Enter(t, "host1", "sh", "-c", "ls /srv/many | wc -l")
		if c, _ := strconv.Atoi(strings.TrimSpace(out)); c < n-50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the apply removed nothing in two minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.MustEnter(t, "host1", "pkill", "-9", "-f", "agent apply")
	if r := <-done; r.Err == nil {
		t.Fatal("the killed apply reported success")
	}
	left, _ := strconv.Atoi(strings.TrimSpace(l.Run(t, "host1", "ls /srv/many | wc -l")))
	if left == 0 {
		t.Fatal("the kill came too late to test anything")
	}
	r := resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err != nil || r.Removed != left {
		t.Fatalf("the next apply: %v, %d removed, %d files were left", r.Err, r.Removed, left)
	}
	if out := l.Run(t, "host1", "ls -A /srv/many | wc -l; test ! -e /var/lib/tend/managed.journal && echo compacted"); out != "0\ncompacted\n" {
		t.Fatalf("after recovery: %q", out)
	}
	if ids := recorded(t, l); len(ids) != 1 || ids[0] != dirItem.ID {
		t.Fatalf("record after recovery: %v", ids)
	}
	if p := resourcetest.Run(t, l, "host1", wire.Plan, d); p.Err != nil || p.Changed+p.Removed != 0 {
		t.Fatalf("plan after recovery: %v %+v", p.Err, p)
	}
}

// TestHostLock: while one apply holds the host, another apply and a plan
// are refused at once with who holds it and a hint; nothing is changed.
func TestHostLock(t *testing.T) {
	l := labtest.New(t, 1)
	d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindFile, "/srv/locked", spec.File{Content: "x\n"})}}
	// The first apply is busy: a command resource that waits for a file.
	slow := resourcetest.Item(spec.KindCommand, "wait", spec.Command{Run: "while [ ! -e /run/go-on ]; do sleep 0.05; done", User: "root"})
	done := make(chan plan.Result, 1)
	go func() {
		done <- resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{slow}})
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(l.Run(t, "host1", "cat /var/lib/tend/lock 2>/dev/null || true"), "tend apply") {
		if time.Now().After(deadline) {
			t.Fatal("the first apply did not take the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, mode := range []wire.Mode{wire.Apply, wire.Plan} {
		r := resourcetest.Run(t, l, "host1", mode, d)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "the host is busy: tend apply, pid") || r.Diag == nil || r.Diag.Hint == "" {
			t.Fatalf("%s while an apply runs: %v %+v", mode, r.Err, r.Diag)
		}
	}
	l.Run(t, "host1", "test ! -e /srv/locked && touch /run/go-on")
	if r := <-done; r.Err != nil {
		t.Fatalf("the first apply: %v", r.Err)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil || r.Changed != 1 {
		t.Fatalf("apply once the host is free: %v, %d changes", r.Err, r.Changed)
	}
}
