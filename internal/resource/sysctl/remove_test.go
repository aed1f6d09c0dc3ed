package sysctl_test

import (
	"testing"

	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestRemoval: a sysctl that leaves the spec takes its file with it, and
// the kernel gets back the value it has without it: what another file
// sets, else the value before tend. state: absent removes a file tend's
// record does not know.
func TestRemoval(t *testing.T) {
	l := labWithNetSysctl(t)
	item := resourcetest.Item
	read := func(t *testing.T, param string) string {
		t.Helper()
		return l.MustEnter(t, "host1", "sysctl", "-n", param)
	}
	before := map[string]string{}
	for _, p := range []string{"net.ipv4.tcp_syncookies", "net.ipv4.ip_local_port_range"} {
		before[p] = read(t, p)
	}
	// Another file sets this one; tend's, read after it, sets another value.
	l.Run(t, "host1", "echo 'net.ipv4.tcp_fin_timeout = 45' > /etc/sysctl.d/50-local.conf && sysctl -q -p /etc/sysctl.d/50-local.conf")
	const files = "ls /etc/sysctl.d | grep tend || true"
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "set",
			Resources: []wire.Item{
				item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{Value: "0"}),
				item(spec.KindSysctl, "net.ipv4.ip_local_port_range", spec.Sysctl{Value: "20000 40000"}),
				item(spec.KindSysctl, "net.ipv4.tcp_fin_timeout", spec.Sysctl{Value: "30"}),
			},
			Check: func(t *testing.T) {
				if got := read(t, "net.ipv4.tcp_fin_timeout"); got != "30\n" {
					t.Errorf("tcp_fin_timeout %q", got)
				}
				if got, want := l.MustEnter(t, "host1", "cat", "/etc/sysctl.d/60-tend-net.ipv4.tcp_syncookies.conf"), "# before tend: "+before["net.ipv4.tcp_syncookies"]+"net.ipv4.tcp_syncookies = 0\n"; got != want {
					t.Errorf("persisted file %q, want %q", got, want)
				}
			},
		},
		resourcetest.State{
			Name: "two leave the spec",
			Resources: []wire.Item{
				item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{Value: "0"}),
			},
			Check: func(t *testing.T) {
				if got := l.Run(t, "host1", files); got != "60-tend-net.ipv4.tcp_syncookies.conf\n" {
					t.Errorf("files in /etc/sysctl.d: %q", got)
				}
				if got := read(t, "net.ipv4.ip_local_port_range"); got != before["net.ipv4.ip_local_port_range"] {
					t.Errorf("ip_local_port_range %q, want its value before tend %q", got, before["net.ipv4.ip_local_port_range"])
				}
				if got := read(t, "net.ipv4.tcp_fin_timeout"); got != "45\n" {
					t.Errorf("tcp_fin_timeout %q, want 45 from 50-local.conf", got)
				}
				if got := read(t, "net.ipv4.tcp_syncookies"); got != "0\n" {
					t.Errorf("tcp_syncookies %q, still in the spec", got)
				}
				// What boot does gives the same.
				l.Run(t, "host1", "systemctl restart systemd-sysctl")
				if got := read(t, "net.ipv4.tcp_fin_timeout"); got != "45\n" {
					t.Errorf("after systemd-sysctl: tcp_fin_timeout %q", got)
				}
			},
		},
		resourcetest.State{
			Name:      "the last one leaves",
			Resources: nil,
			Check: func(t *testing.T) {
				if got := l.Run(t, "host1", files); got != "" {
					t.Errorf("files in /etc/sysctl.d: %q", got)
				}
				if got := read(t, "net.ipv4.tcp_syncookies"); got != before["net.ipv4.tcp_syncookies"] {
					t.Errorf("tcp_syncookies %q, want its value before tend %q", got, before["net.ipv4.tcp_syncookies"])
				}
			},
		},
	)

	// A file of tend's name the record does not know, which notes no value
	// from before tend (an older tend wrote it, or the record was lost).
	l.Run(t, "host1", "echo 'net.ipv4.tcp_syncookies = 2' > /etc/sysctl.d/60-tend-net.ipv4.tcp_syncookies.conf && sysctl -q -w net.ipv4.tcp_syncookies=2")
	absent := item(spec.KindSysctl, "net.ipv4.tcp_syncookies", spec.Sysctl{})
	absent.State = wire.Absent
	d := &wire.Desired{Resources: []wire.Item{absent}}
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil || r.Removed != 1 || r.Events[0].Change == nil {
		t.Fatalf("plan: %v:\n%s", r.Err, resourcetest.Describe(r))
	}
	if got, want := r.Events[0].Change.Summary(), "persisted 2 -> (none), no configuration sets it and its value before tend is not known: net.ipv4.tcp_syncookies stays 2 until the next boot"; got != want {
		t.Errorf("plan: %q, want %q", got, want)
	}
	resourcetest.Converge(t, l, "host1", resourcetest.State{
		Name:      "state absent",
		Resources: []wire.Item{absent},
		Check: func(t *testing.T) {
			if got := l.Run(t, "host1", files); got != "" {
				t.Errorf("files in /etc/sysctl.d: %q", got)
			}
			if got := read(t, "net.ipv4.tcp_syncookies"); got != "2\n" {
				t.Errorf("tcp_syncookies %q", got)
			}
		},
	})
}
