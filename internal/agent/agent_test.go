package agent_test

import (
	"strings"
	"testing"

	"tend/internal/agent"
	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
)

// TestHandlers: a changed resource notifies its handler, which runs once
// at the end; when the run fails after the change, the notification is
// kept on the host and the next run fires it, although nothing changes then.
func TestHandlers(t *testing.T) {
	l := labtest.New(t, 1)
	pid := func() string { return strings.TrimSpace(l.Run(t, "host1", "systemctl show -p MainPID --value cron")) }
	restart := []agent.Handler{{Name: "restart-cron", Service: "cron", Action: "restart"}}
	conf := func(content string) agent.Item {
		it := resourcetest.Item(spec.KindFile, "/etc/cron.d/tend-test", spec.File{Content: content})
		it.Notify = []string{"restart-cron", "restart-cron"}
		return it
	}
	// Fails: its parent is a file.
	broken := resourcetest.Item(spec.KindFile, "/etc/cron.d/tend-test/child", spec.File{Content: "x\n"})

	before := pid()
	r := resourcetest.Run(t, l, "host1", agent.Apply, &agent.Desired{Resources: []agent.Item{conf("# one\n"), broken}, Handlers: restart})
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
	p := resourcetest.Run(t, l, "host1", agent.Plan, &agent.Desired{Resources: []agent.Item{conf("# one\n")}, Handlers: restart})
	if p.Err != nil || len(p.Events) != 2 || p.Events[1].Handler != "restart-cron" || p.Events[1].Applied {
		t.Fatalf("plan with a pending handler: %v %+v", p.Err, p.Events)
	}
	if got := pid(); got != before {
		t.Fatalf("a plan fired the handler")
	}

	// The next run changes nothing but fires the kept notification, once.
	r = resourcetest.Run(t, l, "host1", agent.Apply, &agent.Desired{Resources: []agent.Item{conf("# one\n")}, Handlers: restart})
	if r.Err != nil || r.Changed != 0 {
		t.Fatalf("second run: %v, %d changes", r.Err, r.Changed)
	}
	var fired int
	for _, e := range r.Events {
		if e.Type == agent.EventHandler && e.Applied {
			fired++
		}
	}
	after := pid()
	if fired != 1 || after == before {
		t.Fatalf("handler fired %d times; cron pid %s -> %s", fired, before, after)
	}
	l.Run(t, "host1", "test ! -e /var/lib/tend/pending-handlers.json")

	// In sync: no handler.
	r = resourcetest.Run(t, l, "host1", agent.Apply, &agent.Desired{Resources: []agent.Item{conf("# one\n")}, Handlers: restart})
	if r.Err != nil || len(r.Events) != 1 || pid() != after {
		t.Fatalf("a run with nothing to do fired a handler: %+v", r.Events)
	}
}
