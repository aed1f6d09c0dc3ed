package lab_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/internal/hint"
	"tend/internal/lab"
	"tend/internal/lab/labtest"
	"tend/internal/testenv"
)

// TestHosts checks what every later test relies on: real, separate Debian
// hosts reached over real SSH, that reach each other and nothing else.
func TestHosts(t *testing.T) {
	l := labtest.New(t, 3)
	ids := map[string]string{}
	keys := map[string]string{}
	for _, h := range l.State.Hosts {
		if got := strings.TrimSpace(l.Run(t, h.Name, "hostname")); got != h.Name {
			t.Errorf("%s: hostname = %q", h.Name, got)
		}
		if got := strings.TrimSpace(l.Run(t, h.Name, "systemctl is-system-running || true")); got != "running" {
			t.Errorf("%s: systemctl is-system-running = %q, want running (failed units: %s)", h.Name, got,
				l.Run(t, h.Name, "systemctl --failed --no-legend"))
		}
		if pid1 := strings.TrimSpace(l.Run(t, h.Name, "cat /proc/1/comm")); pid1 != "systemd" {
			t.Errorf("%s: PID 1 is %q, want systemd", h.Name, pid1)
		}
		if os := l.Run(t, h.Name, "cat /etc/os-release"); !strings.Contains(os, "VERSION_CODENAME=bookworm") {
			t.Errorf("%s: not Debian 12: %s", h.Name, os)
		}
		if addr := l.Run(t, h.Name, "ip -4 -o addr show dev host0"); !strings.Contains(addr, " "+h.Addr+"/24 ") {
			t.Errorf("%s: host0 is %q, want address %s", h.Name, addr, h.Addr)
		}
		if routes := l.Run(t, h.Name, "ip route; ip -6 route"); strings.Contains(routes, "default") {
			t.Errorf("%s: has a default route, so it could reach outside the lab:\n%s", h.Name, routes)
		}
		id := strings.TrimSpace(l.Run(t, h.Name, "cat /etc/machine-id"))
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share machine-id %s", h.Name, other, id)
		}
		ids[id] = h.Name
		key := strings.Fields(l.Run(t, h.Name, "cat /etc/ssh/ssh_host_ed25519_key.pub"))[1]
		if other, dup := keys[key]; dup {
			t.Errorf("%s and %s share their SSH host key", h.Name, other)
		}
		keys[key] = h.Name
		if !strings.Contains(h.HostKey, key) {
			t.Errorf("%s: pinned host key %q is not the key sshd uses (%s)", h.Name, h.HostKey, key)
		}
	}

	t.Run("writes are per host", func(t *testing.T) {
		l.Run(t, "host1", "echo only-on-host1 > /root/marker && sync")
		if out := l.Run(t, "host1", "cat /root/marker"); out != "only-on-host1\n" {
			t.Fatalf("host1 cannot read its own file: %q", out)
		}
		if out := l.Run(t, "host2", "test -e /root/marker && echo present || echo absent"); out != "absent\n" {
			t.Errorf("a file written on host1 is %s on host2", strings.TrimSpace(out))
		}
	})

	t.Run("hosts reach each other", func(t *testing.T) {
		h2 := l.Host(t, "host2")
		for _, target := range []string{h2.Addr, "host2"} {
			out := l.Run(t, "host1", "timeout 5 bash -c 'exec 3<>/dev/tcp/"+target+"/22; head -c 7 <&3'")
			if !strings.HasPrefix(out, "SSH-2.0") {
				t.Errorf("host1 -> %s:22 answered %q, want an SSH banner", target, out)
			}
		}
	})

	t.Run("local apt repository works offline", func(t *testing.T) {
		l.Run(t, "host3", "! command -v hello") // offered, not installed
		l.Run(t, "host3", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q hello jq >/dev/null")
		if out := l.Run(t, "host3", "hello; echo '{\"a\":1}' | jq .a"); out != "Hello, world!\n1\n" {
			t.Errorf("installed packages print %q", out)
		}
	})

	t.Run("services of the default root run", func(t *testing.T) {
		out := l.Run(t, "host1", "systemctl is-active nginx postgresql@15-main postfix dovecot ssh")
		if strings.Count(out, "active\n") != 5 || strings.Contains(out, "inactive") {
			t.Errorf("services: %q", out)
		}
	})

	t.Run("a host manages its own network", func(t *testing.T) {
		before, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		l.Run(t, "host2", "sysctl -qw net.ipv4.ip_forward=1; nft add table inet tendtest")
		if out := l.Run(t, "host2", "cat /proc/sys/net/ipv4/ip_forward; nft list tables"); out != "1\ntable inet tendtest\n" {
			t.Errorf("host2: %q", out)
		}
		if out := l.Run(t, "host1", "nft list tables"); out != "" {
			t.Errorf("host2's firewall shows on host1: %q", out)
		}
		if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(before) {
			t.Errorf("a host changed this machine's ip_forward: %q -> %q", before, after)
		}
	})

	t.Run("nsenter reaches the host without SSH", func(t *testing.T) {
		out, err := l.Enter(t, "host2", "hostname")
		if err != nil || strings.TrimSpace(out) != "host2" {
			t.Errorf("nsenter hostname = %q, %v", out, err)
		}
	})
}

// namespaces returns the network and PID namespaces of the lab's running
// hosts, to find their processes after the namespaces' names are gone.
func namespaces(t *testing.T, s *lab.State) map[string]bool {
	t.Helper()
	ns := map[string]bool{}
	for _, h := range s.Hosts {
		// Right after systemd-nspawn starts, its child may not have
		// entered the host's namespaces yet: wait for it.
		for i := 0; i < 100; i++ {
			pid, err := h.InitPID()
			if err == nil {
				netns, err1 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
				pidns, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
				self, _ := os.Readlink("/proc/self/ns/pid")
				if err1 == nil && err2 == nil && pidns != self {
					ns[netns], ns[pidns] = true, true
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(ns) == 0 {
		t.Fatal("no running host to take namespaces from")
	}
	return ns
}

// leftovers lists what of the lab still exists on the machine: live
// processes (by command line, or in one of the namespaces ns),
// network interfaces, namespaces, mounts, its folder.
func leftovers(t *testing.T, c lab.Config, s *lab.State, ns map[string]bool) []string {
	t.Helper()
	var left []string
	labDir := filepath.Join(c.StateDir, s.Name)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); i < 0 || strings.HasPrefix(string(stat[i+2:]), "Z") {
			continue // gone, or a zombie: finished, waiting to be reaped
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		root, _ := os.Readlink("/proc/" + e.Name() + "/root")
		netns, _ := os.Readlink("/proc/" + e.Name() + "/ns/net")
		pidns, _ := os.Readlink("/proc/" + e.Name() + "/ns/pid")
		if strings.Contains(string(cmd), labDir) || strings.HasPrefix(root, labDir) || ns[netns] || ns[pidns] {
			left = append(left, "process "+e.Name()+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	names := []string{s.Bridge}
	for _, h := range s.Hosts {
		for _, pat := range []string{"/sys/fs/cgroup/*/tend-lab/", "/sys/fs/cgroup/*/*/*/tend-lab/"} {
			if m, _ := filepath.Glob(pat + h.Netns); len(m) > 0 && h.Netns != "" {
				left = append(left, "cgroups "+strings.Join(m, " "))
			}
		}
		names = append(names, h.Veth)
		if _, err := os.Stat("/run/netns/" + h.Netns); err == nil {
			left = append(left, "network namespace "+h.Netns)
		}
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		if _, err := os.Stat("/sys/class/net/" + n); err == nil {
			left = append(left, "link "+n)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, labDir) || strings.Contains(line, "/run/netns/tend-"+s.Name+"-") {
			left = append(left, "mount "+line)
		}
	}
	if _, err := os.Stat(labDir); err == nil {
		left = append(left, "folder "+labDir)
	}
	for _, h := range s.Hosts {
		if _, err := os.Stat("/run/systemd/nspawn/propagate/" + s.Name + "-" + h.Name); err == nil {
			left = append(left, "folder /run/systemd/nspawn/propagate/"+s.Name+"-"+h.Name)
		}
	}
	return left
}

func hostNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, "host"+strconv.Itoa(i))
	}
	return out
}

// TestUpIsIdempotentAndDownLeavesNothing: a second up keeps healthy hosts,
// up converges to the hosts asked for, and down removes everything.
func TestUpIsIdempotentAndDownLeavesNothing(t *testing.T) {
	testenv.Need(t, "the lab", lab.Prereqs())
	ctx := context.Background()
	c := labtest.Config(t)
	name := labtest.Name()
	t.Cleanup(func() { lab.Down(ctx, c, name) })

	s1, err := lab.Up(ctx, c, name, lab.Options{Hosts: hostNames(2), Packages: lab.DefaultPackages, RepoPackages: lab.DefaultRepoPackages})
	if err != nil {
		t.Fatal(err)
	}
	ns := namespaces(t, s1)
	pids := map[string]int{}
	for _, h := range s1.Hosts {
		pids[h.Name] = h.PID
	}
	s2, err := lab.Up(ctx, c, name, lab.Options{Hosts: hostNames(2), Packages: lab.DefaultPackages, RepoPackages: lab.DefaultRepoPackages})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s2.Hosts {
		if h.PID != pids[h.Name] {
			t.Errorf("second up restarted %s (pid %d -> %d)", h.Name, pids[h.Name], h.PID)
		}
	}
	// A host that died (its systemd and systemd-nspawn gone) is remade by
	// the next up.
	h1 := s2.Host("host1")
	if init, err := h1.InitPID(); err == nil {
		syscall.Kill(init, syscall.SIGKILL)
	}
	syscall.Kill(h1.PID, syscall.SIGKILL)
	for i := 0; i < 200; i++ { // wait until it is gone (or a zombie)
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(h1.PID) + "/stat")
		if j := strings.LastIndexByte(string(stat), ')'); err != nil || j > 0 && stat[j+2] == 'Z' {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s3, err := lab.Up(ctx, c, name, lab.Options{Hosts: hostNames(1), Packages: lab.DefaultPackages, RepoPackages: lab.DefaultRepoPackages})
	if err != nil {
		t.Fatal(err)
	}
	if len(s3.Hosts) != 1 || s3.Hosts[0].Name != "host1" || s3.Hosts[0].PID == pids["host1"] {
		t.Fatalf("after up --hosts 1 with host1 killed: hosts %+v", s3.Hosts)
	}
	if _, err := os.Stat("/run/netns/" + s2.Host("host2").Netns); err == nil {
		t.Errorf("host2 was not asked for any more, but its namespace is still there")
	}
	for k := range namespaces(t, s3) {
		ns[k] = true
	}
	was, err := lab.Down(ctx, c, name)
	if err != nil || !was {
		t.Fatalf("down = %v, %v", was, err)
	}
	if left := leftovers(t, c, s2, ns); len(left) > 0 {
		t.Errorf("down left behind:\n%s", strings.Join(left, "\n"))
	}
	if was, err := lab.Down(ctx, c, name); err != nil || was {
		t.Errorf("a second down = %v, %v; want false, nil", was, err)
	}
}

// TestDownAfterCrash kills `tend lab up` with SIGKILL while it boots hosts;
// down must still remove everything it had made.
func TestDownAfterCrash(t *testing.T) {
	testenv.Need(t, "the lab", lab.Prereqs())
	bin := filepath.Join(t.TempDir(), "tend")
	if out, err := exec.Command("go", "build", "-o", bin, "tend/cmd/tend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := labtest.Config(t)
	name := labtest.Name()
	ctx := context.Background()
	t.Cleanup(func() { lab.Down(ctx, c, name) })
	// Make sure the root is cached, so the kill lands while hosts boot.
	if _, err := lab.EnsureRoot(ctx, c, lab.DefaultPackages, lab.DefaultRepoPackages); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lab", "up", "--lab", name, "--hosts", "3")
	cmd.Env = append(os.Environ(), "TEND_LAB_DIR="+c.StateDir, "TEND_LAB_CACHE="+c.CacheDir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as the state records a running host.
	deadline := time.Now().Add(time.Minute)
	var s *lab.State
	for {
		if st, err := lab.Load(c, name); err == nil && len(st.Hosts) > 0 && st.Hosts[0].PID > 0 {
			s = st
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("tend lab up recorded no host within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if s, _ = lab.Load(c, name); s == nil {
		t.Fatal("no state after the crash")
	}
	ns := namespaces(t, s)
	if was, err := lab.Down(ctx, c, name); err != nil || !was {
		t.Fatalf("down after crash = %v, %v", was, err)
	}
	if left := leftovers(t, c, s, ns); len(left) > 0 {
		t.Errorf("down after a crash left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestUpErrors: each bad situation gets a clear error with a hint and
// leaves nothing behind; another program's things are never touched.
func TestUpErrors(t *testing.T) {
	testenv.Need(t, "the lab", lab.Prereqs())
	ctx := context.Background()
	c := labtest.Config(t)
	opts := func(hosts ...string) lab.Options {
		return lab.Options{Hosts: hosts, Packages: lab.DefaultPackages, RepoPackages: lab.DefaultRepoPackages}
	}

	t.Run("host does not answer SSH in time", func(t *testing.T) {
		name := labtest.Name()
		o := opts("slow")
		o.Wait = time.Nanosecond
		_, err := lab.Up(ctx, c, name, o)
		if err == nil || !strings.Contains(err.Error(), "host slow (10.147.") || !strings.Contains(err.Error(), "did not answer SSH within 1ns") {
			t.Fatalf("err = %v", err)
		}
		if h := hint.Of(err); !strings.Contains(h, "console.log") || !strings.Contains(h, "--wait") {
			t.Errorf("hint = %q", h)
		}
		s := &lab.State{Name: name, Bridge: "tlb-" + name, Hosts: []*lab.Host{{Netns: "tend-" + name + "-slow"}}}
		if left := leftovers(t, c, s, nil); len(left) > 0 {
			t.Errorf("a failed up left behind:\n%s", strings.Join(left, "\n"))
		}
	})

	t.Run("bridge name taken", func(t *testing.T) {
		name := labtest.Name()
		if out, err := exec.Command("ip", "link", "add", "tlb-"+name, "type", "bridge").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		defer exec.Command("ip", "link", "del", "tlb-"+name).Run()
		_, err := lab.Up(ctx, c, name, opts("a"))
		if err == nil || !strings.Contains(err.Error(), "network interface tlb-"+name+" already exists and is not this lab's") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat("/sys/class/net/tlb-" + name); err != nil {
			t.Errorf("up removed an interface that was not its own")
		}
		if _, err := os.Stat(filepath.Join(c.StateDir, name)); err == nil {
			t.Errorf("a failed up left its folder %s", filepath.Join(c.StateDir, name))
		}
	})

	t.Run("namespace name taken", func(t *testing.T) {
		name := labtest.Name()
		ns := "tend-" + name + "-a"
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		defer exec.Command("ip", "netns", "del", ns).Run()
		_, err := lab.Up(ctx, c, name, opts("a"))
		if err == nil || !strings.Contains(err.Error(), "network namespace "+ns) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Errorf("up removed a namespace that was not its own")
		}
		exec.Command("ip", "netns", "del", ns).Run()
		if left := leftovers(t, c, &lab.State{Name: name, Bridge: "tlb-" + name}, nil); len(left) > 0 {
			t.Errorf("a failed up left behind:\n%s", strings.Join(left, "\n"))
		}
	})

	for _, tc := range []struct {
		name string
		opts lab.Options
		want string
	}{
		{"BadLab", opts("a"), `invalid lab name "BadLab"`},
		{"ok", opts("Host_1"), `invalid host name "Host_1"`},
		{"ok", opts("a", "a"), `host name "a" given twice`},
		{"ok", opts(), "no hosts to boot"},
		{"ok", lab.Options{Hosts: []string{"a"}, Packages: []string{"nginx; rm -rf /"}}, `invalid Debian package name "nginx; rm -rf /"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := lab.Up(ctx, c, tc.name, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
