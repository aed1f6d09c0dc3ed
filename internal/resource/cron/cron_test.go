package cron_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/cron"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func TestValidateSchedule(t *testing.T) {
	tests := []struct {
		schedule string
		err      string // "" when valid; else a part of the message
	}{
		{"* * * * *", ""},
		{"0 3 * * *", ""},
		{"*/15 0-6,22,23 1-31/2 jan mon", ""},
		{"5 4 * * 7", ""},
		{"0 0 1 DEC *", ""},
		{"@daily", ""},
		{"@reboot", ""},
		{"@fortnightly", "unknown keyword"},
		{"* * * *", "needs five fields"},
		{"* * * * * *", "needs five fields"},
		{"60 * * * *", `minute "60" is not a number from 0 to 59`},
		{"* 24 * * *", `hour "24" is not a number from 0 to 23`},
		{"* * 0 * *", `day of month "0" is not a number from 1 to 31`},
		{"* * * 13 *", "month"},
		{"* * * * 8", "day of week"},
		{"* * * * mon-fri", "day of week"},
		{"*/0 * * * *", "step"},
		{"5/10 * * * *", "a step needs * or a range"},
		{"10-5 * * * *", "goes backwards"},
		{"1,,2 * * * *", "minute"},
		{"a * * * *", "minute"},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			err := cron.ValidateSchedule(tt.schedule)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.err != "" && err == nil:
				t.Errorf("accepted, want an error about %q", tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Errorf("error %q, want %q in it", err, tt.err)
			}
		})
	}
}

func TestEscapeCommand(t *testing.T) {
	tests := []struct{ in, want string }{
		{"date", "date"},
		{"date +%F", `date +\%F`},
		{`date +\%F`, `date +\%F`},
		{"a%%b", `a\%\%b`},
		{`back\slash`, `back\slash`},
	}
	for _, tt := range tests {
		if got := cron.EscapeCommand(tt.in); got != tt.want {
			t.Errorf("EscapeCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	j, err := cron.New("backup", &spec.Cron{Schedule: " 0  3 * * * ", Command: "tar czf /var/backups/etc-$(date +%F).tgz /etc"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# Managed by tend: changes here are overwritten.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
		"0 3 * * * root tar czf /var/backups/etc-$(date +\\%F).tgz /etc\n"
	if got := j.Content(); got != want {
		t.Errorf("content:\n%s\nwant:\n%s", got, want)
	}
	for _, tt := range []struct {
		name string
		s    spec.Cron
	}{
		{"bad.name", spec.Cron{Schedule: "@daily", Command: "x"}},
		{"ok", spec.Cron{Schedule: "@daily", Command: "a\nb"}},
		{"ok", spec.Cron{Schedule: "@daily", Command: " "}},
		{"ok", spec.Cron{Schedule: "daily", Command: "x"}},
	} {
		if _, err := cron.New(tt.name, &tt.s); err == nil {
			t.Errorf("New(%q, %+v) accepted", tt.name, tt.s)
		}
	}
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	run := func(t *testing.T, args ...string) string { t.Helper(); return l.MustEnter(t, "host1", args...) }
	const header = "# Managed by tend: changes here are overwritten.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	// A file changed by hand, with a mode cron refuses (group-writable).
	l.Run(t, "host1", "echo '* * * * * root rm -rf /tmp/x' > /etc/cron.d/cleanup && chmod 664 /etc/cron.d/cleanup")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create and repair",
			Resources: []wire.Item{
				resourcetest.Item(spec.KindCron, "backup", spec.Cron{Schedule: "0 3 * * *", Command: "date +%F > /var/tmp/stamp"}),
				resourcetest.Item(spec.KindCron, "cleanup", spec.Cron{Schedule: "@hourly", Command: "find /tmp -mtime +7 -delete", User: "nobody"}),
			},
			Check: func(t *testing.T) {
				if got, want := run(t, "cat", "/etc/cron.d/backup"), header+"0 3 * * * root date +\\%F > /var/tmp/stamp\n"; got != want {
					t.Errorf("backup:\n%s\nwant:\n%s", got, want)
				}
				if got, want := run(t, "cat", "/etc/cron.d/cleanup"), header+"@hourly nobody find /tmp -mtime +7 -delete\n"; got != want {
					t.Errorf("cleanup:\n%s\nwant:\n%s", got, want)
				}
				if got := run(t, "stat", "-c", "%a %U:%G", "/etc/cron.d/backup", "/etc/cron.d/cleanup"); got != "644 root:root\n644 root:root\n" {
					t.Errorf("modes: %s", got)
				}
				// No temporary file left where cron reads.
				if got := run(t, "ls", "-A", "/etc/cron.d"); strings.Contains(got, ".tend-") {
					t.Errorf("temporary files in /etc/cron.d: %s", got)
				}
			},
		},
	)
	if t.Failed() {
		return
	}
	// cleanup was on the host before tend: when it leaves the spec it
	// stays, and the plan says so.
	changed := []wire.Item{resourcetest.Item(spec.KindCron, "backup", spec.Cron{Schedule: "30 4 * * 1-5", Command: "/usr/local/bin/backup", User: "nobody"})}
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: changed})
	if got := resourcetest.Describe(r); r.Err != nil || r.Removed != 1 ||
		!strings.Contains(got, "cron:cleanup: keep /etc/cron.d/cleanup existed before tend managed it: it stays, and cron still runs what it says") {
		t.Fatalf("plan: %d removals, err %v:\n%s", r.Removed, r.Err, got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "change; cleanup left out",
			Resources: changed,
			Check: func(t *testing.T) {
				if got, want := run(t, "cat", "/etc/cron.d/backup"), header+"30 4 * * 1-5 nobody /usr/local/bin/backup\n"; got != want {
					t.Errorf("backup:\n%s\nwant:\n%s", got, want)
				}
				if got, want := run(t, "cat", "/etc/cron.d/cleanup"), header+"@hourly nobody find /tmp -mtime +7 -delete\n"; got != want {
					t.Errorf("cleanup:\n%s\nwant:\n%s", got, want)
				}
			},
		},
		resourcetest.State{
			Name: "backup left out: tend's file goes",
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "ls", "/etc/cron.d/backup"); err == nil {
					t.Errorf("still there: %s", out)
				}
				if got, want := run(t, "cat", "/etc/cron.d/cleanup"), header+"@hourly nobody find /tmp -mtime +7 -delete\n"; got != want {
					t.Errorf("cleanup:\n%s\nwant:\n%s", got, want)
				}
			},
		},
		resourcetest.State{
			Name:      "state absent deletes the file tend did not create",
			Resources: []wire.Item{{ID: "cron:cleanup", Kind: string(spec.KindCron), Name: "cleanup", State: wire.Absent}},
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "ls", "/etc/cron.d/cleanup"); err == nil {
					t.Errorf("still there: %s", out)
				}
			},
		},
	)
}

// TestUnknownUser: apply of a job for a user that does not exist fails
// with what to do, and writes nothing.
func TestUnknownUser(t *testing.T) {
	l := labtest.New(t, 1)
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindCron, "ghost", spec.Cron{Schedule: "@daily", Command: "true", User: "ghost"}),
	}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "declare `user: ghost` before this resource") {
		t.Errorf("apply: err %v", r.Err)
	}
	if out, err := l.Enter(t, "host1", "ls", "/etc/cron.d/ghost"); err == nil {
		t.Errorf("written: %s", out)
	}
}
