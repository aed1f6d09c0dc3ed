package agent_test

import (
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

// TestHandlers: a changed resource notifies its handler, which runs once
// at the end; when the run fails after the change, the notification is
// kept on the host and the next run fires it, although nothing changes then.
func TestHandlers(t *testing.T) {
	l := labtest.New(t, 1)
	pid := func() string { return strings.TrimSpace(l.Run(t, "host1", "systemctl show -p MainPID --value cron")) }
	restart := []wire.Handler{{Name: "restart-cron", Service: "cron", Action: "restart"}}
	conf := func(content string) wire.Item {
		it := resourcetest.Item(spec.KindFile, "/etc/cron.d/tend-test", spec.File{Content: content})
		it.Notify = []string{"restart-cron", "restart-cron"}
		return it
	}
	// Fails: its parent is a file.
	broken := resourcetest.Item(spec.KindFile, "/etc/cron.d/tend-test/child", spec.File{Content: "x\n"})

	before := pid()
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{conf("# one\n"), broken}, Handlers: restart})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "file:/etc/cron.d/tend-test/child") {
		t.Fatalf("want the run to fail on the broken resource, got %v", r.Err)
	}
	if got := pid(); got != before {
		t.Fatalf("the handler ran although the run failed (cron pid %s -> %s)", before, got)
	}
	if out := l.Run(t, "host1", "cat /var/lib/tend/pending-handlers.json"); !strings.Contains(out, `"restart-cron"`) {
		t.Fatalf("pending handlers on the host: %q", out)
	}

	// Plan reports the pending handler; it changes nothing.
	p := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{conf("# one\n")}, Handlers: restart})
	if p.Err != nil || len(p.Events) != 2 || p.Events[1].Handler != "restart-cron" || p.Events[1].Applied {
		t.Fatalf("plan with a pending handler: %v %+v", p.Err, p.Events)
	}
	if got := pid(); got != before {
		t.Fatalf("a plan fired the handler")
	}

	// The next run changes nothing but fires the kept notification, once.
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{conf("# one\n")}, Handlers: restart})
	if r.Err != nil || r.Changed != 0 {
		t.Fatalf("second run: %v, %d changes", r.Err, r.Changed)
	}
	var fired int
	for _, e := range r.Events {
		if e.Type == wire.EventHandler && e.Applied {
			fired++
		}
	}
	after := pid()
	if fired != 1 || after == before {
		t.Fatalf("handler fired %d times; cron pid %s -> %s", fired, before, after)
	}
	l.Run(t, "host1", "test ! -e /var/lib/tend/pending-handlers.json")

	// In sync: no handler.
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{conf("# one\n")}, Handlers: restart})
	if r.Err != nil || len(r.Events) != 1 || pid() != after {
		t.Fatalf("a run with nothing to do fired a handler: %+v", r.Events)
	}
}

// TestKilledApply kills the agent with SIGKILL in the middle of an apply:
// every file is then either absent or complete, and the next apply
// converges and leaves no temporary file behind.
func TestKilledApply(t *testing.T) {
	l := labtest.New(t, 1)
	const n = 3000
	content := strings.Repeat("tend writes whole files or nothing\n", 300) // 10.5 kB
	var items []wire.Item
	items = append(items, resourcetest.Item(spec.KindDirectory, "/srv/many", spec.Directory{}))
	for i := 0; i < n; i++ {
		items = append(items, resourcetest.Item(spec.KindFile, fmt.Sprintf("/srv/many/f%04d", i), spec.File{Content: content}))
	}
	d := &wire.Desired{Resources: items}
	done := make(chan plan.Result, 1)
	go func() { done <- resourcetest.Run(t, l, "host1", wire.Apply, d) }()
	// Kill the agent once it has written some files, but not all.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := l.Enter(t, "host1", "sh", "-c", "ls /srv/many 2>/dev/null | wc -l")
		if c, _ := strconv.Atoi(strings.TrimSpace(out)); c > 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the apply wrote nothing in two minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := l.Enter(t, "host1", "pkill", "-9", "-f", "agent apply"); err != nil {
		t.Fatalf("pkill: %v %s", err, out)
	}
	r := <-done
	if r.Err == nil {
		t.Fatal("the killed apply reported success")
	}
	sizes := l.Run(t, "host1", "find /srv/many -name 'f*' -type f -printf '%s\\n' | sort | uniq -c")
	if got := strings.Fields(sizes); len(got) != 2 || got[1] != strconv.Itoa(len(content)) {
		t.Fatalf("after the kill, files are not all whole (count size):\n%s", sizes)
	}
	if c, _ := strconv.Atoi(strings.Fields(sizes)[0]); c >= n {
		t.Fatalf("the kill came too late to test anything: %d files written", c)
	}
	r = resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err != nil {
		t.Fatalf("the next apply: %v", r.Err)
	}
	if left := l.Run(t, "host1", "find /srv/many -name '.tend-*' | wc -l; ls /srv/many | wc -l"); left != "0\n"+strconv.Itoa(n)+"\n" {
		t.Errorf("temporary files left, files: %q", left)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, d); r.Err != nil || r.Changed != 0 {
		t.Errorf("plan after recovery: %v, %d changes", r.Err, r.Changed)
	}
}
