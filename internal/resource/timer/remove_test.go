package timer_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestRemoval: a timer that leaves the spec is stopped and disabled and
// its units go; one tend did not make goes with state: absent.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	enter := func(t *testing.T, args ...string) string { t.Helper(); return l.MustEnter(t, "host1", args...) }
	// gone checks, without tend, that systemd and /etc know nothing of name.
	gone := func(t *testing.T, name string) {
		t.Helper()
		if out := l.Run(t, "host1", "ls /etc/systemd/system | grep "+name+" || true"); out != "" {
			t.Errorf("left in /etc/systemd/system: %s", out)
		}
		if out := enter(t, "systemctl", "list-timers", "--all", "--no-pager", "--no-legend"); strings.Contains(out, name) {
			t.Errorf("systemd still lists %s:\n%s", name, out)
		}
		if out := enter(t, "systemctl", "show", "-p", "LoadState", "--value", name+".timer", name+".service"); strings.Join(strings.Fields(out), " ") != "not-found not-found" {
			t.Errorf("systemd still knows %s: %q", name, out)
		}
	}
	report := item(spec.KindTimer, "report", spec.Timer{OnCalendar: "hourly", Command: "sleep 600"})
	keep := item(spec.KindTimer, "keep", spec.Timer{OnCalendar: "daily", Command: "true"})
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "two timers",
			Resources: []wire.Item{report, keep},
			Check: func(t *testing.T) {
				// A run in progress when the timer goes.
				enter(t, "systemctl", "start", "--no-block", "report.service")
				l.Run(t, "host1", "for i in $(seq 100); do [ $(systemctl is-active report.service) = activating ] && exit 0; sleep 0.1; done; exit 1")
			},
		},
		resourcetest.State{
			Name:      "one leaves the spec",
			Resources: []wire.Item{keep},
			Check: func(t *testing.T) {
				gone(t, "report")
				if got := enter(t, "systemctl", "is-active", "keep.timer"); got != "active\n" {
					t.Errorf("the other timer: %s", got)
				}
				if out := l.Run(t, "host1", "pgrep -x sleep || true"); out != "" {
					t.Errorf("the job of the removed timer still runs: %s", out)
				}
			},
		},
	)
	// A timer written by hand, which tend never managed.
	l.Run(t, "host1", `printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' > /etc/systemd/system/byhand.service &&
		printf '[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n' > /etc/systemd/system/byhand.timer &&
		systemctl daemon-reload && systemctl enable --now byhand.timer`)
	absent := item(spec.KindTimer, "byhand", spec.Timer{})
	absent.State = wire.Absent
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "state absent",
			Resources: []wire.Item{keep, absent},
			Check:     func(t *testing.T) { gone(t, "byhand") },
		},
	)
}
