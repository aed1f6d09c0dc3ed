package swap_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func ptr(n int) *int { return &n }

// TestConverge runs in a lab host, a systemd-nspawn container: there
// swapon is not permitted and /proc/sys/vm is read-only, so this verifies
// the file (size, mode, owner, real blocks, swap signature), the fstab line
// and the persisted swappiness, and that the rest is reported as skipped;
// not that the swap turns on.
func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	enter := func(t *testing.T, args ...string) string { t.Helper(); return l.MustEnter(t, "host1", args...) }
	check := func(size, swappiness string) func(t *testing.T) {
		return func(t *testing.T) {
			// %b blocks of 512 bytes: allocated, not a sparse file.
			if got, want := enter(t, "stat", "-c", "%s %a %U:%G %F", "/var/swapfile"), size+" 600 root:root regular file\n"; got != want {
				t.Errorf("stat: %q, want %q", got, want)
			}
			if got := enter(t, "stat", "-c", "%b*%B>=%s", "/var/swapfile"); enter(t, "sh", "-c", "echo $(("+strings.TrimSpace(got)+"))") != "1\n" {
				t.Errorf("the swap file is sparse: %s", got)
			}
			if got := enter(t, "swaplabel", "/var/swapfile"); !strings.Contains(got, "UUID:") {
				t.Errorf("no swap signature: %s", got)
			}
			if got := enter(t, "grep", "-c", "^/var/swapfile none swap sw 0 0$", "/etc/fstab"); got != "1\n" {
				t.Errorf("fstab lines: %s", got)
			}
			if got, want := enter(t, "cat", "/etc/sysctl.d/60-tend-vm.swappiness.conf"), "# before tend: 60\nvm.swappiness = "+swappiness+"\n"; got != want {
				t.Errorf("persisted swappiness: %q, want %q", got, want)
			}
			if got := enter(t, "ls", "-A", "/var"); strings.Contains(got, ".tend-") {
				t.Errorf("a temporary file is left: %s", got)
			}
		}
	}
	first := []wire.Item{item(spec.KindSwap, "/var/swapfile", spec.Swap{Size: "64M", Swappiness: ptr(10)})}
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: first})
	if r.Err != nil || len(r.Events) != 1 || r.Events[0].Change == nil {
		t.Fatalf("plan: %v, events %+v", r.Err, r.Events)
	}
	want := "size (none) -> 64M, mode (none) -> 0600, owner (none) -> root, group (none) -> root, " +
		"fstab (none) -> /var/swapfile none swap sw 0 0, persisted swappiness (none) -> 10, " +
		"swappiness 60 -> skipped in a container, active no -> skipped in a container"
	if got := r.Events[0].Change.Summary(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "create", Resources: first, Check: func(t *testing.T) {
			check("67108864", "10")(t)
			// Drift by hand, for the next state to repair.
			l.Run(t, "host1", "chmod 0644 /var/swapfile && sed -i '/swapfile/d' /etc/fstab")
		}},
		resourcetest.State{Name: "repair mode and fstab", Resources: first, Check: check("67108864", "10")},
		resourcetest.State{
			Name:      "resize, other swappiness",
			Resources: []wire.Item{item(spec.KindSwap, "/var/swapfile", spec.Swap{Size: "96M", Swappiness: ptr(20)})},
			Check: func(t *testing.T) {
				check("100663296", "20")(t)
				if got := enter(t, "cat", "/proc/sys/vm/swappiness"); got != "60\n" {
					t.Errorf("live swappiness changed in a container: %s", got)
				}
			},
		},
		resourcetest.State{
			Name:      "swappiness left alone",
			Resources: []wire.Item{item(spec.KindSwap, "/var/swapfile", spec.Swap{Size: "96M"})},
			Check:     check("100663296", "20"),
		},
	)
}

// TestSignatureLost: a file of the right size without a swap signature
// (overwritten) is made again.
func TestSignatureLost(t *testing.T) {
	l := labtest.New(t, 1)
	d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindSwap, "/swap.img", spec.Swap{Size: "1M"})}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	l.Run(t, "host1", "dd if=/dev/zero of=/swap.img bs=4096 count=1 conv=notrunc status=none")
	r := resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err != nil || r.Changed != 1 || !strings.Contains(r.Events[0].Change.Summary(), "signature none -> swap") {
		t.Fatalf("apply: %v:\n%s", r.Err, resourcetest.Describe(r))
	}
	if out, err := l.Enter(t, "host1", "swaplabel", "/swap.img"); err != nil {
		t.Errorf("no swap signature after apply: %v: %s", err, out)
	}
}
