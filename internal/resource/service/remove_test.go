package service_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestRemoval: a service tend created goes whole when it leaves the spec;
// one a package shipped goes back to how it was before tend changed it, or
// stays as it is; state: absent stops and disables any service.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	is := func(t *testing.T, name, want string) {
		t.Helper()
		if got := show(t, l, name); got != want {
			t.Errorf("%s is %q, want %q", name, got, want)
		}
	}
	web := item(spec.KindService, "tend-web", spec.Service{Unit: unit(8081), Enabled: ptr(true), Running: ptr(true)})
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "a service of its own, nginx stopped and disabled, cron as it is",
			Resources: []wire.Item{
				web,
				item(spec.KindService, "nginx", spec.Service{Enabled: ptr(false), Running: ptr(false)}),
				item(spec.KindService, "cron", spec.Service{Enabled: ptr(true), Running: ptr(true)}),
			},
			Check: func(t *testing.T) {
				is(t, "tend-web", "active enabled")
				is(t, "nginx", "inactive disabled")
				is(t, "cron", "active enabled")
			},
		},
		resourcetest.State{
			Name:      "they leave the spec",
			Resources: nil,
			Check: func(t *testing.T) {
				if got := props(t, l, "tend-web"); got["ActiveState"] != "inactive" || got["UnitFileState"] != "" {
					t.Errorf("tend-web is still there: %v", got)
				}
				if got, _ := l.Enter(t, "host1", "systemctl", "show", "-p", "LoadState", "--value", "tend-web.service"); got != "not-found\n" {
					t.Errorf("systemd still loads tend-web: %q", got)
				}
				if out := l.Run(t, "host1", "ls /etc/systemd/system/tend-web.service /etc/systemd/system/multi-user.target.wants/tend-web.service 2>&1 || true"); strings.Count(out, "No such file") != 2 {
					t.Errorf("files left: %s", out)
				}
				if !refused(t, l, 8081) {
					t.Errorf("tend-web still serves")
				}
				is(t, "nginx", "active enabled")
				if !serves(t, l, 80) {
					t.Errorf("nginx does not serve again")
				}
				is(t, "cron", "active enabled")
			},
		},
	)
	// The plan said what it would do with each.
	d := &wire.Desired{Resources: []wire.Item{web}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil {
		t.Fatal(r.Err)
	}
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{})
	if r.Err != nil || r.Removed != 1 || r.Events[0].Change == nil || r.Events[0].Change.Action != "delete" {
		t.Errorf("plan of the removal: %v:\n%s", r.Err, resourcetest.Describe(r))
	} else if got, want := r.Events[0].Change.Summary(), "enabled enabled -> disabled, running active -> inactive, unit"; !strings.HasPrefix(got, want) {
		t.Errorf("plan: %q, want %q...", got, want)
	}

	// state: absent of services tend did not make: a package's, and one
	// written by hand.
	l.Run(t, "host1", "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/byhand.service && systemctl daemon-reload && systemctl enable --now -q byhand")
	absent := func(name string) wire.Item {
		it := item(spec.KindService, name, spec.Service{})
		it.State = wire.Absent
		return it
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "state absent",
			Resources: []wire.Item{web, absent("cron"), absent("byhand")},
			Check: func(t *testing.T) {
				is(t, "cron", "inactive disabled")
				if _, err := l.Enter(t, "host1", "test", "-f", "/lib/systemd/system/cron.service"); err != nil {
					t.Errorf("the package's unit file of cron was deleted")
				}
				if _, err := l.Enter(t, "host1", "test", "-e", "/etc/systemd/system/byhand.service"); err == nil {
					t.Errorf("byhand.service is still in /etc/systemd/system")
				}
				if got := props(t, l, "byhand"); got["ActiveState"] != "inactive" {
					t.Errorf("byhand still runs: %v", got)
				}
			},
		},
	)
}
