package timer_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/resource/timer"
	"tend/internal/spec"
	"tend/internal/wire"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"echo hi", `"echo hi"`},
		{`say "x"`, `"say \"x\""`},
		{`a\b`, `"a\\b"`},
		{"$HOME ${X} 50%", `"$$HOME $${X} 50%%"`},
		{"one\ntwo\tthree", `"one\ntwo\tthree"`},
		{"bell\a", `"bell\x07"`},
		{"it's", `"it's"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := timer.Quote(tt.in); got != tt.want {
				t.Errorf("Quote = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUnits(t *testing.T) {
	tm, err := timer.New("backup", &spec.Timer{OnCalendar: " daily ", Command: "run-backup --all"})
	if err != nil {
		t.Fatal(err)
	}
	wantService := "# Managed by tend: changes here are overwritten.\n[Unit]\nDescription=tend job backup\n\n[Service]\nType=oneshot\nUser=root\nExecStart=/bin/sh -c \"run-backup --all\"\n"
	if got := tm.ServiceUnit(); got != wantService {
		t.Errorf("service:\n%s\nwant:\n%s", got, wantService)
	}
	wantTimer := "# Managed by tend: changes here are overwritten.\n[Unit]\nDescription=tend schedule of backup\n\n[Timer]\nOnCalendar=daily\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
	if got := tm.TimerUnit(); got != wantTimer {
		t.Errorf("timer:\n%s\nwant:\n%s", got, wantTimer)
	}
	for _, bad := range []spec.Timer{
		{OnCalendar: "", Command: "x"},
		{OnCalendar: "daily\nOnCalendar=hourly", Command: "x"},
		{OnCalendar: "daily", Command: "  "},
	} {
		if _, err := timer.New("x", &bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	enter := func(t *testing.T, args ...string) string { t.Helper(); return l.MustEnter(t, "host1", args...) }
	// fire runs the job now, as its timer would, and returns what it wrote.
	fire := func(t *testing.T, name, out string) string {
		t.Helper()
		enter(t, "rm", "-f", out)
		enter(t, "systemctl", "start", name+".service")
		return enter(t, "cat", out)
	}
	listed := func(t *testing.T, name, calendar string) {
		t.Helper()
		if out := enter(t, "systemctl", "list-timers", "--all", "--no-pager", name+".timer"); !strings.Contains(out, name+".timer") {
			t.Errorf("list-timers does not show %s:\n%s", name, out)
		}
		if got := enter(t, "systemctl", "is-enabled", name+".timer"); got != "enabled\n" {
			t.Errorf("is-enabled: %s", got)
		}
		if got := enter(t, "systemctl", "show", "-p", "TimersCalendar", "--value", name+".timer"); !strings.Contains(got, calendar) {
			t.Errorf("TimersCalendar %q, want %q in it", got, calendar)
		}
	}
	const tricky = `printf '%s|%s|%s\n' "$(id -un)" "$USER" '50% "q" \ $x' > /var/tmp/report.out`
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindTimer, "report", spec.Timer{OnCalendar: "*-*-* 03:00:00", Command: tricky}),
			},
			Check: func(t *testing.T) {
				listed(t, "report", "03:00:00")
				if got, want := fire(t, "report", "/var/tmp/report.out"), "root|root|50% \"q\" \\ $x\n"; got != want {
					t.Errorf("the job wrote %q, want %q", got, want)
				}
			},
		},
		resourcetest.State{
			Name: "change schedule, command and user",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindTimer, "report", spec.Timer{OnCalendar: "hourly", User: "nobody",
					Command: tricky + "\necho second line >> /var/tmp/report.out"}),
			},
			Check: func(t *testing.T) {
				listed(t, "report", "*-*-* *:00:00")
				if got, want := fire(t, "report", "/var/tmp/report.out"), "nobody|nobody|50% \"q\" \\ $x\nsecond line\n"; got != want {
					t.Errorf("the job wrote %q, want %q", got, want)
				}
			},
		},
		resourcetest.State{
			Name: "stopped and disabled by hand: started and enabled again",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindTimer, "report", spec.Timer{OnCalendar: "hourly", User: "nobody", Command: "true"}),
			},
			Check: func(t *testing.T) {
				enter(t, "systemctl", "disable", "--now", "report.timer")
			},
		},
		resourcetest.State{
			Name: "re-enabled",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindTimer, "report", spec.Timer{OnCalendar: "hourly", User: "nobody", Command: "true"}),
			},
			Check: func(t *testing.T) {
				listed(t, "report", "*-*-* *:00:00")
				if got := enter(t, "systemctl", "is-active", "report.timer"); got != "active\n" {
					t.Errorf("is-active: %s", got)
				}
			},
		},
	)
}

// TestBadCalendar: a plan refuses a calendar expression systemd rejects.
func TestBadCalendar(t *testing.T) {
	l := labtest.New(t, 1)
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindTimer, "bad", spec.Timer{OnCalendar: "every tuesday-ish", Command: "true"}),
	}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), `on_calendar "every tuesday-ish" is not a calendar expression systemd accepts`) {
		t.Errorf("plan: err %v", r.Err)
	}
}
