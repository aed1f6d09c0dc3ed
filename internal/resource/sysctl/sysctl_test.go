package sysctl_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// labWithNetSysctl boots one lab host whose /proc/sys/net is writable.
// systemd-nspawn mounts all of /proc/sys read-only unless it makes the
// network namespace itself; SYSTEMD_NSPAWN_API_VFS_WRITABLE=network (read
// by the systemd-nspawn the lab starts, which inherits this environment)
// leaves /proc/sys/net writable, as in any container with its own network.
// Parameters that need CAP_NET_ADMIN (net.ipv4.ip_forward) stay refused:
// nspawn drops it for containers it does not give a private network.
func labWithNetSysctl(t *testing.T) *labtest.Lab {
	t.Setenv("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")
	return labtest.New(t, 1)
}

func TestConverge(t *testing.T) {
	l := labWithNetSysctl(t)
	item := resourcetest.Item
	read := func(t *testing.T, path string) string {
		t.Helper()
		out, err := l.Enter(t, "host1", "cat", path)
		if err != nil {
			t.Fatalf("cat %s: %v: %s", path, err, out)
		}
		return out
	}
	want := func(t *testing.T, path, content string) {
		t.Helper()
		if got := read(t, path); got != content {
			t.Errorf("%s: %q, want %q", path, got, content)
		}
	}
	const (
		cookies   = "/etc/sysctl.d/60-tend-net.ipv4.tcp_syncookies.conf"
		portRange = "/etc/sysctl.d/60-tend-net.ipv4.ip_local_port_range.conf"
	)
	state2 := []wire.Item{
		item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{Value: "2"}),
		item(spec.KindSysctl, "net/ipv4/ip_local_port_range", spec.Sysctl{Value: "30000   50000"}),
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			// Each file notes the kernel's value before tend, which its
			// removal puts back.
			Name: "set and persist",
			Resources: []wire.Item{
				item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{Value: "0"}),
				// The kernel prints this one as two tab-separated numbers.
				item(spec.KindSysctl, "net.ipv4.ip_local_port_range", spec.Sysctl{Value: "20000 40000"}),
			},
			Check: func(t *testing.T) {
				want(t, "/proc/sys/net/ipv4/tcp_syncookies", "0\n")
				want(t, "/proc/sys/net/ipv4/ip_local_port_range", "20000\t40000\n")
				want(t, cookies, "# before tend: 1\nnet.ipv4.tcp_syncookies = 0\n")
				want(t, portRange, "# before tend: 32768 60999\nnet.ipv4.ip_local_port_range = 20000 40000\n")
			},
		},
		resourcetest.State{
			Name:      "change, slash form",
			Resources: state2,
			Check: func(t *testing.T) {
				want(t, "/proc/sys/net/ipv4/tcp_syncookies", "2\n")
				want(t, "/proc/sys/net/ipv4/ip_local_port_range", "30000\t50000\n")
				want(t, cookies, "# before tend: 1\nnet.ipv4.tcp_syncookies = 2\n")
				want(t, portRange, "# before tend: 32768 60999\nnet.ipv4.ip_local_port_range = 30000 50000\n")
				// Drift by hand, for the next state to repair.
				l.Run(t, "host1", "sysctl -q -w net.ipv4.tcp_syncookies=1 && echo '# edited' >> "+portRange)
			},
		},
		resourcetest.State{
			Name:      "repair drift",
			Resources: state2,
			Check: func(t *testing.T) {
				want(t, "/proc/sys/net/ipv4/tcp_syncookies", "2\n")
				want(t, portRange, "# before tend: 32768 60999\nnet.ipv4.ip_local_port_range = 30000 50000\n")
				// What boot does with the persisted files.
				l.Run(t, "host1", "sysctl -q -w net.ipv4.tcp_syncookies=1 net.ipv4.ip_local_port_range='1024 2048' && systemctl restart systemd-sysctl")
				want(t, "/proc/sys/net/ipv4/tcp_syncookies", "2\n")
				want(t, "/proc/sys/net/ipv4/ip_local_port_range", "30000\t50000\n")
			},
		},
	)
}

// TestPlanShowsChange: a plan names the value from and to, and changes
// nothing.
func TestPlanShowsChange(t *testing.T) {
	l := labWithNetSysctl(t)
	l.Run(t, "host1", "sysctl -q -w net.ipv4.tcp_syncookies=1")
	d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{Value: "0"})}}
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil || len(r.Events) != 1 || r.Events[0].Change == nil {
		t.Fatalf("plan: %v, events %+v", r.Err, r.Events)
	}
	c := r.Events[0].Change
	if got, want := c.Summary(), "value 1 -> 0, persisted (none) -> 0"; got != want || c.Action != "create" {
		t.Errorf("plan: %s %q, want create %q", c.Action, got, want)
	}
	if got := l.Run(t, "host1", "cat /proc/sys/net/ipv4/tcp_syncookies; ls /etc/sysctl.d"); got != "1\n99-sysctl.conf\nREADME.sysctl\n" {
		t.Errorf("a plan changed the host: %q", got)
	}
}

// TestErrors: what cannot converge is an error that says why and what to
// do, at plan time, and nothing is written.
func TestErrors(t *testing.T) {
	l := labWithNetSysctl(t)
	l.Run(t, "host1", "echo 'net.ipv4.tcp_syncookies = 1' > /etc/sysctl.d/80-local.conf")
	for _, tc := range []struct {
		name, value string
		want        []string
	}{
		{"vm.swappiness", "7", []string{`kernel parameter vm.swappiness is "60", not "7", and read-only on this host`, "set it on the machine that runs the container"}},
		{"net.ipv4.no_such_thing", "1", []string{"kernel parameter net.ipv4.no_such_thing does not exist on this host", "check the name"}},
		{"net.ipv4.tcp_syncookies", "0", []string{"/etc/sysctl.d/80-local.conf:1 sets net.ipv4.tcp_syncookies = 1", "would win: remove that line"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindSysctl, tc.name, spec.Sysctl{Value: tc.value})}}
			for _, mode := range []wire.Mode{wire.Plan, wire.Apply} {
				r := resourcetest.Run(t, l, "host1", mode, d)
				if r.Err == nil || len(r.Events) == 0 {
					t.Fatalf("%s: no error; events %+v", mode, r.Events)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.Events[0].Failure(), w) {
						t.Errorf("%s: error %q does not say %q", mode, r.Events[0].Failure(), w)
					}
				}
			}
			if out := l.Run(t, "host1", "ls /etc/sysctl.d"); strings.Contains(out, "60-tend") {
				t.Errorf("a failed resource wrote a file: %s", out)
			}
		})
	}
}
