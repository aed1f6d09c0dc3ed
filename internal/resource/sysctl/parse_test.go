package sysctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/resource"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct{ name, dotted, conf string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", "60-tend-net.ipv4.ip_forward.conf"},
		{"net/ipv4/conf/eth0.1/forwarding", "net.ipv4.conf.eth0/1.forwarding", "60-tend-net.ipv4.conf.eth0_1.forwarding.conf"},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.*.rp_filter", "60-tend-net.ipv4.conf._.rp_filter.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Dotted(tc.name); got != tc.dotted {
				t.Errorf("Dotted = %q, want %q", got, tc.dotted)
			}
			if got := ConfName(tc.name); got != tc.conf {
				t.Errorf("ConfName = %q, want %q", got, tc.conf)
			}
		})
	}
	r := Roots{Proc: "/proc/sys"}
	if got := r.procPattern("net/ipv4/conf/eth0.1/forwarding"); got != "/proc/sys/net/ipv4/conf/eth0.1/forwarding" {
		t.Errorf("procPattern = %q", got)
	}
}

func TestParseConf(t *testing.T) {
	in := "# comment\n; other comment\n\nnet.ipv4.ip_forward=1\n-net/ipv4/conf/eth0.1/forwarding =  0\nkernel.x = a\tb  \nnot an assignment\n"
	want := []assignment{
		{key: "net.ipv4.ip_forward", value: "1", line: 4},
		{key: "net.ipv4.conf.eth0/1.forwarding", value: "0", line: 5},
		{key: "kernel.x", value: "a b", line: 6},
	}
	if diff := cmp.Diff(want, parseConf(in), cmp.AllowUnexported(assignment{})); diff != "" {
		t.Errorf("parseConf (-want +got):\n%s", diff)
	}
}

// fakeRoots lays out a /proc/sys and sysctl.d directories in a temporary
// directory.
func fakeRoots(t *testing.T, files map[string]string) Roots {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Roots{Proc: filepath.Join(dir, "proc"), Etc: filepath.Join(dir, "etc"),
		Dirs: []string{filepath.Join(dir, "etc/sysctl.d"), filepath.Join(dir, "run/sysctl.d"), filepath.Join(dir, "usr/lib/sysctl.d")}}
}

func TestReadLive(t *testing.T) {
	r := fakeRoots(t, map[string]string{
		"proc/net/ipv4/ip_local_port_range":     "32768\t60999\n",
		"proc/net/ipv4/conf/all/rp_filter":      "1\n",
		"proc/net/ipv4/conf/default/rp_filter":  "2\n",
		"proc/net/ipv4/conf/all/forwarding":     "1\n",
		"proc/net/ipv4/conf/default/forwarding": "1\n",
	})
	for _, tc := range []struct{ name, value, show, err string }{
		{name: "net.ipv4.ip_local_port_range", value: "32768 60999", show: "32768 60999"},
		{name: "net.ipv4.conf.*.forwarding", value: "1", show: "1"},
		{name: "net.ipv4.conf.*.rp_filter", value: "", show: "mixed: 1, 2"},
		{name: "net.ipv4.nope", err: "kernel parameter net.ipv4.nope does not exist on this host"},
		{name: "net.ipv6.conf.*.x", err: "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := r.ReadLive(tc.name)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Value != tc.value || l.Show() != tc.show || l.ReadOnly {
				t.Errorf("value %q show %q readonly %v, want %q %q", l.Value, l.Show(), l.ReadOnly, tc.value, tc.show)
			}
		})
	}
}

func TestOverridden(t *testing.T) {
	r := fakeRoots(t, map[string]string{
		"etc/sysctl.d/10-early.conf":      "vm.swappiness = 90\n",          // before ours: ours wins
		"etc/sysctl.d/99-sysctl.conf":     "# nothing\nvm.swappiness=10\n", // same value: fine
		"usr/lib/sysctl.d/99-sysctl.conf": "vm.swappiness = 70\n",          // hidden by /etc's
		"run/sysctl.d/70-late.conf":       "kernel.a = 1\n\nvm/swappiness = 30\n",
	})
	got, err := r.Overridden("vm.swappiness", "10")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(r.Dirs[1], "70-late.conf") + ":3 sets vm.swappiness = 30"; got != want {
		t.Errorf("Overridden = %q, want %q", got, want)
	}
	if got, _ := r.Overridden("kernel.a", "1"); got != "" {
		t.Errorf("kernel.a: %q, want none", got)
	}
}

// TestCheckApply runs Check and Apply against a fake /proc/sys: every
// field of the change, then nothing left to change.
func TestCheckApply(t *testing.T) {
	r := fakeRoots(t, map[string]string{
		"proc/net/ipv4/ip_local_port_range":       "32768\t60999\n",
		"proc/net/ipv4/tcp_syncookies":            "1\n",
		"etc/sysctl.d/60-tend-vm.swappiness.conf": "vm.swappiness = 10\n# by hand\n",
		"proc/vm/swappiness":                      "10\n",
		"proc/net/ipv4/conf/all/forwarding":       "0\n",
		"proc/net/ipv4/conf/default/forwarding":   "1\n",
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name, value string
		want        *resource.Change
	}{
		{"net.ipv4.tcp_syncookies", "0", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("value", "1", "0"), fld("persisted", "", "0")}}},
		{"net.ipv4.ip_local_port_range", "1024 2048", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("value", "32768 60999", "1024 2048"), fld("persisted", "", "1024 2048")}}},
		{"vm.swappiness", "10", &resource.Change{Action: resource.Update, Fields: []resource.Field{fld("persisted", "10 (file edited)", "10")}}},
		{"net.ipv4.conf.*.forwarding", "1", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("value", "mixed: 0, 1", "1"), fld("persisted", "", "1")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: tc.name, Value: tc.value, Roots: r}
			c, err := p.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c); diff != "" {
				t.Fatalf("Check (-want +got):\n%s", diff)
			}
			if err := p.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c, err := p.Check(ctx); c != nil || err != nil {
				t.Errorf("Check after Apply: %+v, %v", c, err)
			}
		})
	}
}

func fld(name, from, to string) resource.Field {
	return resource.Field{Name: name, From: from, To: to}
}

func TestRemove(t *testing.T) {
	r := fakeRoots(t, map[string]string{
		"proc/net/ipv4/tcp_syncookies":          "1\n",
		"proc/net/ipv4/tcp_fin_timeout":         "60\n",
		"usr/lib/sysctl.d/50-local.conf":        "net.ipv4.tcp_fin_timeout = 45\n",
		"etc/sysctl.d/60-tend-kernel.unk.conf":  "kernel.unk = 3\n",
		"proc/kernel/unk":                       "3\n",
		"etc/sysctl.d/60-tend-kernel.edit.conf": "kernel.edit = 9\n",
		"proc/kernel/edit":                      "9\n",
	})
	ctx := context.Background()
	apply := func(name, value string) {
		t.Helper()
		p := &Param{Name: name, Value: value, Roots: r}
		c, err := p.Check(ctx)
		if err == nil && c != nil {
			err = p.Apply(ctx, c)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(rel string) string {
		t.Helper()
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(r.Proc), rel))
		return string(b)
	}
	apply("net.ipv4.tcp_syncookies", "0")
	apply("net.ipv4.tcp_syncookies", "2") // a rewrite keeps the value before tend
	apply("net.ipv4.tcp_fin_timeout", "30")
	if got, want := read("etc/sysctl.d/60-tend-net.ipv4.tcp_syncookies.conf"), "# before tend: 1\nnet.ipv4.tcp_syncookies = 2\n"; got != want {
		t.Errorf("persisted: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name, value string
		want        *resource.Change
		live        string
	}{
		{"net.ipv4.tcp_syncookies", "2", &resource.Change{Action: resource.Delete, Reason: "back to its value before tend",
			Fields: []resource.Field{fld("persisted", "2", ""), fld("value", "2", "1")}}, "1\n"},
		{"net.ipv4.tcp_fin_timeout", "30", &resource.Change{Action: resource.Delete, Reason: "back to set by " + filepath.Join(filepath.Dir(r.Proc), "usr/lib/sysctl.d/50-local.conf") + ":1",
			Fields: []resource.Field{fld("persisted", "30", ""), fld("value", "30", "45")}}, "45\n"},
		{"kernel.unk", "3", &resource.Change{Action: resource.Delete, Reason: "no configuration sets it and its value before tend is not known: kernel.unk stays 3 until the next boot",
			Fields: []resource.Field{fld("persisted", "3", "")}}, "3\n"},
		{"kernel.edit", "8", resource.Kept(r.ConfPath("kernel.edit") + " now sets kernel.edit = 9, not the 8 this resource set: it is left as it is"), "9\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rm := &Removal{Name: tc.name, Value: tc.value, Roots: r}
			c, err := rm.CheckRemove(ctx, resource.Removal{Created: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c); diff != "" {
				t.Fatalf("CheckRemove (-want +got):\n%s", diff)
			}
			if c.Action == resource.Keep {
				return
			}
			if err := rm.Remove(ctx, c, resource.Removal{Created: true}); err != nil {
				t.Fatal(err)
			}
			if got := read("proc/" + strings.ReplaceAll(tc.name, ".", "/")); strings.TrimSpace(got) != strings.TrimSpace(tc.live) {
				t.Errorf("live value %q, want %q", got, tc.live)
			}
			if c, err := rm.CheckRemove(ctx, resource.Removal{Created: true}); c != nil || err != nil {
				t.Errorf("CheckRemove after Remove: %+v, %v", c, err)
			}
		})
	}
}
