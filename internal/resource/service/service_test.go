package service_test

import (
	"fmt"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func unit(port int) string {
	return fmt.Sprintf(`[Unit]
Description=tend test web server

[Service]
ExecStart=/usr/bin/python3 -m http.server %d --bind 127.0.0.1 --directory /tmp

[Install]
WantedBy=multi-user.target
`, port)
}

func ptr(b bool) *bool { return &b }

// props returns systemd's view of a unit, from inside the host (not
// through tend).
func props(t *testing.T, l *labtest.Lab, name string) map[string]string {
	t.Helper()
	out, err := l.Enter(t, "host1", "systemctl", "show", "-p", "ActiveState,UnitFileState,MainPID,NeedDaemonReload", name+".service")
	if err != nil {
		t.Fatalf("systemctl show %s: %v: %s", name, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// show returns a unit's active and enabled states, e.g. "active enabled".
func show(t *testing.T, l *labtest.Lab, name string) string {
	t.Helper()
	p := props(t, l, name)
	return p["ActiveState"] + " " + p["UnitFileState"]
}

// serves reports whether something answers HTTP on the port. A server
// just started may take a moment to listen: curl retries refused
// connections for a while.
func serves(t *testing.T, l *labtest.Lab, port int) bool {
	t.Helper()
	_, err := l.Enter(t, "host1", "curl", "-sf", "--retry", "30", "--retry-delay", "1", "--retry-connrefused", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/", port))
	return err == nil
}

// refused reports whether nothing listens on the port.
func refused(t *testing.T, l *labtest.Lab, port int) bool {
	t.Helper()
	_, err := l.Enter(t, "host1", "curl", "-sf", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/", port))
	return err != nil
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	var pid string
	state := func(t *testing.T, want string) {
		t.Helper()
		p := props(t, l, "tend-web")
		if got := p["ActiveState"] + " " + p["UnitFileState"]; got != want {
			t.Errorf("tend-web is %s, want %s", got, want)
		}
		if p["NeedDaemonReload"] != "no" {
			t.Errorf("tend-web needs a daemon-reload after apply")
		}
		pid = p["MainPID"]
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create, enable, start",
			Resources: []wire.Item{
				item(spec.KindService, "tend-web", spec.Service{Unit: unit(8081), Enabled: ptr(true), Running: ptr(true)}),
			},
			Check: func(t *testing.T) {
				state(t, "active enabled")
				if !serves(t, l, 8081) {
					t.Errorf("nothing serves on 8081")
				}
				if got, _ := l.Enter(t, "host1", "stat", "-c", "%a %U:%G", "/etc/systemd/system/tend-web.service"); got != "644 root:root\n" {
					t.Errorf("unit file: %s", got)
				}
			},
		},
		resourcetest.State{
			Name: "unit changed while running: restart",
			Resources: []wire.Item{
				item(spec.KindService, "tend-web", spec.Service{Unit: unit(8082), Enabled: ptr(true), Running: ptr(true)}),
			},
			Check: func(t *testing.T) {
				before := pid
				state(t, "active enabled")
				if pid == before {
					t.Errorf("not restarted: main pid still %s", pid)
				}
				if !serves(t, l, 8082) || !refused(t, l, 8081) {
					t.Errorf("the new unit does not run")
				}
			},
		},
		resourcetest.State{
			Name: "unit changed, running left alone: restart",
			Resources: []wire.Item{
				item(spec.KindService, "tend-web", spec.Service{Unit: unit(8083)}),
			},
			Check: func(t *testing.T) {
				state(t, "active enabled")
				if !serves(t, l, 8083) {
					t.Errorf("the new unit does not run")
				}
			},
		},
		resourcetest.State{
			Name: "stop and disable",
			Resources: []wire.Item{
				item(spec.KindService, "tend-web", spec.Service{Unit: unit(8083), Enabled: ptr(false), Running: ptr(false)}),
			},
			Check: func(t *testing.T) {
				state(t, "inactive disabled")
				if !refused(t, l, 8083) {
					t.Errorf("still serving after stop")
				}
			},
		},
		resourcetest.State{
			Name: "unit changed while stopped: no start",
			Resources: []wire.Item{
				item(spec.KindService, "tend-web", spec.Service{Unit: unit(8084)}),
			},
			Check: func(t *testing.T) {
				state(t, "inactive disabled")
				if got, _ := l.Enter(t, "host1", "systemctl", "cat", "tend-web"); !strings.Contains(got, "8084") {
					t.Errorf("systemd did not load the new unit:\n%s", got)
				}
			},
		},
		resourcetest.State{
			Name: "nginx stopped",
			Resources: []wire.Item{
				item(spec.KindService, "nginx", spec.Service{Running: ptr(false)}),
			},
			Check: func(t *testing.T) {
				if got := show(t, l, "nginx"); !strings.Contains(got, "inactive enabled") {
					t.Errorf("nginx: %s", got)
				}
				if !refused(t, l, 80) {
					t.Errorf("nginx still serves")
				}
			},
		},
		resourcetest.State{
			Name: "nginx disabled, then started",
			Resources: []wire.Item{
				item(spec.KindService, "nginx", spec.Service{Enabled: ptr(false)}),
				item(spec.KindService, "nginx", spec.Service{Running: ptr(true)}),
			},
			Check: func(t *testing.T) {
				if got := show(t, l, "nginx"); !strings.Contains(got, "active disabled") || strings.Contains(got, "inactive") {
					t.Errorf("nginx: %s", got)
				}
				if !serves(t, l, 80) {
					t.Errorf("nginx does not serve")
				}
			},
		},
	)
}

// TestInterruptedRun: a unit file written without a daemon-reload (a run
// killed between the two, or an edit by hand) is loaded and the service
// restarted by the next run, though the file's content is already right.
func TestInterruptedRun(t *testing.T) {
	l := labtest.New(t, 1)
	first := []wire.Item{resourcetest.Item(spec.KindService, "tend-web", spec.Service{Unit: unit(8081), Running: ptr(true)})}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: first}); r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	l.Run(t, "host1", "sed -i s/8081/8082/ /etc/systemd/system/tend-web.service")
	second := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindService, "tend-web", spec.Service{Unit: unit(8082), Running: ptr(true)})}}
	r := resourcetest.Run(t, l, "host1", wire.Plan, second)
	if r.Err != nil || r.Changed != 1 {
		t.Fatalf("plan: %v, %d changes", r.Err, r.Changed)
	}
	if got, want := r.Events[0].Change.Summary(), "daemon-reload (none) -> unit file not loaded yet, restart (none) -> unit changed"; got != want {
		t.Errorf("plan: %q, want %q", got, want)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, second); r.Err != nil || r.Changed != 1 {
		t.Fatalf("apply: %v, %d changes", r.Err, r.Changed)
	}
	if !serves(t, l, 8082) || !refused(t, l, 8081) {
		t.Errorf("the edited unit does not run")
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, second); r.Err != nil || r.Changed != 0 {
		t.Errorf("plan after apply: %v, %d changes:\n%s", r.Err, r.Changed, resourcetest.Describe(r))
	}
}

// TestErrors: services that cannot converge fail at plan time, saying
// what to do.
func TestErrors(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", "systemctl mask -q postfix")
	for _, tc := range []struct {
		name string
		s    spec.Service
		want string
	}{
		{"no-such-thing", spec.Service{Running: ptr(true)}, "systemd has no unit no-such-thing.service: install the package that provides it first, or give its unit"},
		{"postfix", spec.Service{Running: ptr(true)}, "service postfix is masked"},
		{"systemd-journald", spec.Service{Enabled: ptr(true)}, "service systemd-journald cannot be enabled: its unit has no [Install] section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindService, tc.name, tc.s)}}
			r := resourcetest.Run(t, l, "host1", wire.Plan, d)
			if r.Err == nil || len(r.Events) == 0 || !strings.Contains(r.Events[0].Failure(), tc.want) {
				t.Errorf("plan: %v; want an error saying %q", r.Err, tc.want)
			}
		})
	}
}
