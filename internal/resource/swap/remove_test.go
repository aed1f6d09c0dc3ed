package swap_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// mkswap makes a swap file by hand, as an installer would, with its fstab
// line.
func mkswap(t *testing.T, l *labtest.Lab, path string) {
	t.Helper()
	l.Run(t, "host1", "fallocate -l 1M "+path+" && chmod 600 "+path+" && mkswap -q "+path+" && echo '"+path+" none swap sw 0 0' >> /etc/fstab")
}

// TestRemoval: a swap file tend made goes with its fstab line and
// persisted swappiness when it leaves the spec; one made before tend
// stays, unless the spec says state: absent. In a lab host (a container)
// the swap is never on, so swapoff is not exercised.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	// gone checks, without tend, that nothing of the swap file is left.
	gone := func(t *testing.T, path string) {
		t.Helper()
		if _, err := l.Enter(t, "host1", "test", "-e", path); err == nil {
			t.Errorf("%s is still there", path)
		}
		if got := l.Run(t, "host1", "grep -c '"+path+" ' /etc/fstab || true"); got != "0\n" {
			t.Errorf("fstab still mounts %s: %s", path, got)
		}
	}
	mkswap(t, l, "/swap.old")
	fstab := l.MustEnter(t, "host1", "cat", "/etc/fstab")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "a swap file of tend's, and one made before",
			Resources: []wire.Item{
				item(spec.KindSwap, "/var/swapfile", spec.Swap{Size: "16M", Swappiness: ptr(10)}),
				item(spec.KindSwap, "/swap.old", spec.Swap{Size: "1M"}),
			},
		},
		resourcetest.State{
			Name: "they leave the spec",
			Check: func(t *testing.T) {
				gone(t, "/var/swapfile")
				if _, err := l.Enter(t, "host1", "test", "-e", "/etc/sysctl.d/60-tend-vm.swappiness.conf"); err == nil {
					t.Errorf("the persisted swappiness is still there")
				}
				if got := l.MustEnter(t, "host1", "cat", "/etc/fstab"); got != fstab {
					t.Errorf("fstab is not as before tend:\n%s\nwant:\n%s", got, fstab)
				}
				if got := l.MustEnter(t, "host1", "swaplabel", "/swap.old"); !strings.Contains(got, "UUID:") {
					t.Errorf("/swap.old, made before tend, was touched: %s", got)
				}
			},
		},
	)
	absent := item(spec.KindSwap, "/swap.old", spec.Swap{})
	absent.State = wire.Absent
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "state absent",
			Resources: []wire.Item{absent},
			Check:     func(t *testing.T) { gone(t, "/swap.old") },
		},
	)
	// state: absent never deletes a file that is not a swap file.
	l.Run(t, "host1", "echo data > /var/notswap && echo '/var/notswap none swap sw 0 0' >> /etc/fstab")
	notswap := item(spec.KindSwap, "/var/notswap", spec.Swap{})
	notswap.State = wire.Absent
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{notswap}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "swap /var/notswap has no swap signature: it is not a swap file") {
		t.Errorf("apply: %v", r.Err)
	}
	if got := l.MustEnter(t, "host1", "cat", "/var/notswap"); got != "data\n" {
		t.Errorf("/var/notswap: %q", got)
	}
}
