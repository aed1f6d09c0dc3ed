package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"tend/internal/hint"
	tssh "tend/internal/transport/ssh"
)

// Options says what Up should make.
type Options struct {
	Hosts        []string      // host names, in order
	Packages     []string      // installed on top of BasePackages
	RepoPackages []string      // offered by the hosts' local apt repository
	Wait         time.Duration // how long a host may take to answer SSH (default 60s)
}

// Prereqs checks that the machine can run a lab: root, and the tools.
func Prereqs() error {
	if os.Geteuid() != 0 {
		return hint.New("the lab needs root: it creates network namespaces, mounts and containers",
			"run it as root, e.g. sudo tend lab up")
	}
	var missing []string
	pkgs := map[string]string{"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container",
		"ip": "iproute2", "unshare": "util-linux", "dpkg-scanpackages": "dpkg-dev"}
	var names []string
	for tool := range pkgs {
		names = append(names, tool)
	}
	slices.Sort(names)
	var install []string
	for _, tool := range names {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
			install = append(install, pkgs[tool])
		}
	}
	if len(missing) > 0 {
		return hint.New("the lab needs "+strings.Join(missing, ", ")+", not found in PATH",
			"install with: apt-get install -y "+strings.Join(install, " "))
	}
	return nil
}

// Up makes lab name have exactly the hosts in opts, running and answering
// SSH. It is idempotent: healthy hosts are kept as they are, missing or
// broken ones are (re)created, hosts not asked for are removed. On failure,
// what this call created is removed again.
func Up(ctx context.Context, c Config, name string, opts Options) (*State, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if len(opts.Hosts) == 0 {
		return nil, hint.New("no hosts to boot", "give --hosts N or --from DIR")
	}
	seen := map[string]bool{}
	for _, h := range opts.Hosts {
		if err := CheckHostName(h); err != nil {
			return nil, err
		}
		if seen[h] {
			return nil, fmt.Errorf("host name %q given twice", h)
		}
		seen[h] = true
	}
	if len(opts.Hosts) > 240 {
		return nil, fmt.Errorf("a lab holds at most 240 hosts, not %d", len(opts.Hosts))
	}
	if opts.Wait == 0 {
		opts.Wait = 60 * time.Second
	}
	if err := Prereqs(); err != nil {
		return nil, err
	}
	if err := tuneMachine(c); err != nil {
		return nil, err
	}
	root, err := EnsureRoot(ctx, c, opts.Packages, opts.RepoPackages)
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(c.labDir(name), "lock"), 5*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s, err := Load(c, name)
	fresh := errors.Is(err, ErrNoLab)
	if err != nil && !fresh {
		return nil, err
	}
	if fresh {
		if s, err = create(c, name); err != nil {
			os.RemoveAll(c.labDir(name)) // only its lock file: nothing was made
			return nil, err
		}
	}
	if err := ensureKey(c, name); err != nil {
		return nil, err
	}
	if err := ensureBridge(ctx, s); err != nil {
		return nil, failUp(c, s, fresh, nil, fmt.Errorf("lab %s: bridge: %w", name, err))
	}

	// Remove hosts not asked for, and broken ones (to be made again).
	var keep, made []*Host
	for _, h := range s.Hosts {
		if seen[h.Name] && h.Root == root.Dir && h.alive() && netnsExists(h.Netns) {
			keep = append(keep, h)
			continue
		}
		c.logf("lab: removing host %s", h.Name)
		if err := removeHost(ctx, h); err != nil {
			return nil, err
		}
	}
	s.Hosts = keep
	if err := c.save(s); err != nil {
		return nil, err
	}
	for _, hn := range opts.Hosts {
		if s.Host(hn) != nil {
			continue
		}
		h, err := newHost(c, s, hn, root)
		if err != nil {
			return nil, failUp(c, s, fresh, made, err)
		}
		// Record the host before creating anything of it.
		s.Hosts = append(s.Hosts, h)
		made = append(made, h)
		if err := c.save(s); err != nil {
			return nil, failUp(c, s, fresh, made, err)
		}
	}
	slices.SortFunc(s.Hosts, func(a, b *Host) int { return slices.Index(opts.Hosts, a.Name) - slices.Index(opts.Hosts, b.Name) })

	// Boot the new hosts, then wait for all of them together.
	for _, h := range made {
		if err := bootHost(ctx, c, s, h, root); err != nil {
			return nil, failUp(c, s, fresh, made, err)
		}
		if err := c.save(s); err != nil {
			return nil, failUp(c, s, fresh, made, err)
		}
	}
	if len(made) > 0 {
		c.logf("lab: waiting for %d host(s) to answer SSH", len(made))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.Hosts))
	for i, h := range s.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitSSH(ctx, c, name, h, opts.Wait)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, failUp(c, s, fresh, made, err)
	}
	if err := writeKnownHosts(c, s); err != nil {
		return nil, failUp(c, s, fresh, made, err)
	}
	return s, nil
}

// failUp undoes what a failed Up made: the hosts it created, and the whole
// lab when the lab is new. It returns err, joined with any clean-up failure.
func failUp(c Config, s *State, fresh bool, made []*Host, err error) error {
	ctx := context.Background()
	var cleanup []error
	if fresh {
		cleanup = append(cleanup, down(ctx, c, s))
	} else {
		for _, h := range made {
			cleanup = append(cleanup, removeHost(ctx, h))
			s.Hosts = slices.DeleteFunc(s.Hosts, func(x *Host) bool { return x == h })
		}
		cleanup = append(cleanup, c.save(s))
	}
	if e := errors.Join(cleanup...); e != nil {
		return errors.Join(err, fmt.Errorf("cleaning up after the failure: %w", e))
	}
	return err
}

// create records a new lab: its subnet is taken under a lock shared by all
// labs, and the bridge name is checked to be free.
func create(c Config, name string) (*State, error) {
	unlock, err := lockFile(filepath.Join(c.StateDir, ".alloc.lock"), time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := &State{Name: name, Bridge: bridgeName(name)}
	if linkExists(s.Bridge) {
		return nil, hint.New(fmt.Sprintf("lab %s: network interface %s already exists and is not this lab's", name, s.Bridge),
			"another program or a lost lab uses the name: choose another --lab name, or remove it with: ip link del "+s.Bridge)
	}
	if s.Index, err = allocIndex(c); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.labDir(name), 0o700); err != nil {
		return nil, err
	}
	return s, c.save(s)
}

// newHost names a new host and checks that its names are free.
func newHost(c Config, s *State, name string, root *Root) (*Host, error) {
	used := map[string]bool{}
	for _, h := range s.Hosts {
		used[h.Addr] = true
	}
	var addr string
	for i := firstHostOct; i < 255; i++ {
		a := fmt.Sprintf("%s%d.%d", subnetPrefix, s.Index, i)
		if !used[a] {
			addr = a
			break
		}
	}
	h := &Host{Name: name, Addr: addr, Veth: vethName(s.Name, name), Netns: netnsName(s.Name, name),
		Dir: filepath.Join(c.labDir(s.Name), "hosts", name), Root: root.Dir}
	if netnsExists(h.Netns) || linkExists(h.Veth) {
		return nil, hint.New(fmt.Sprintf("host %s: network namespace %s or interface %s already exists and is not this lab's", name, h.Netns, h.Veth),
			fmt.Sprintf("a lost lab may have left it: ip netns del %s; ip link del %s", h.Netns, h.Veth))
	}
	if _, err := os.Stat(h.Dir); err == nil {
		if err := removeAll(h.Dir); err != nil {
			return nil, fmt.Errorf("host %s: remove old folder: %w", name, err)
		}
	}
	return h, nil
}

// bootHost gives the host its own writable layer over the root, its
// identity, its network, and starts systemd-nspawn.
func bootHost(ctx context.Context, c Config, s *State, h *Host, root *Root) error {
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", root.Dir, filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work"))
	if err := syscall.Mount("overlay", h.Merged(), "overlay", 0, opts); err != nil {
		return fmt.Errorf("host %s: mount overlay on %s: %w", h.Name, h.Merged(), err)
	}
	if err := identity(c, s, h); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := wireHost(ctx, s, h); err != nil {
		return err
	}
	console, err := os.Create(filepath.Join(h.Dir, "console.log"))
	if err != nil {
		return err
	}
	defer console.Close()
	cgroups := cgroupDirs(h.Netns)
	if err := makeCgroups(cgroups); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	// A shell joins the host's cgroups, then becomes systemd-nspawn (same
	// PID). Not CommandContext: the host outlives this tend process.
	join := `while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done; shift; exec "$@"`
	args := append(append([]string{"-c", join, "sh"}, cgroups...), "--", "systemd-nspawn")
	cmd := exec.Command("sh", append(args, "--quiet", "--register=no", "--keep-unit",
		"--directory="+h.Merged(), "--machine="+machineName(h),
		"--network-namespace-path=/run/netns/"+h.Netns,
		// The host manages its own network: firewall rules, forwarding.
		"--capability=CAP_NET_ADMIN",
		"--console=read-only", "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--boot")...)
	// ...and its own network sysctls (/proc/sys/net is its namespace's).
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host %s: start systemd-nspawn: %w", h.Name, err)
	}
	h.PID = cmd.Process.Pid
	h.Start, _ = startTime(h.PID)
	go cmd.Wait() // reap it if it exits while tend still runs
	return nil
}

// identity writes what makes the host itself into its own layer: hostname,
// machine-id, SSH host key, the lab's key for root, /etc/hosts.
func identity(c Config, s *State, h *Host) error {
	m := func(rel string) string { return filepath.Join(h.Merged(), rel) }
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	h.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	labPub, err := os.ReadFile(c.KeyPath(s.Name) + ".pub")
	if err != nil {
		return err
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + s.Gateway() + "\ttend-control\n"
	for _, o := range s.Hosts {
		hosts += o.Addr + "\t" + o.Name + "\n"
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"etc/hostname", []byte(h.Name + "\n"), 0o644},
		{"etc/machine-id", []byte(hex.EncodeToString(id) + "\n"), 0o444},
		{"etc/hosts", []byte(hosts), 0o644},
		{"etc/ssh/ssh_host_ed25519_key", pem.EncodeToMemory(block), 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", []byte(h.HostKey + " root@" + h.Name + "\n"), 0o644},
		{"root/.ssh/authorized_keys", labPub, 0o600},
	}
	if err := os.MkdirAll(m("root/.ssh"), 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(m(f.path), f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(m(f.path), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// ensureKey makes the lab's SSH key pair once.
func ensureKey(c Config, name string) error {
	path := c.KeyPath(name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "tend lab "+name)
	if err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " tend-lab-" + name + "\n"
	if err := writeFileAtomic(path+".pub", []byte(line), 0o644); err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(block), 0o600)
}

// Signer returns the lab's SSH key, accepted as root by every host.
func Signer(c Config, name string) (ssh.Signer, error) {
	b, err := os.ReadFile(c.KeyPath(name))
	if err != nil {
		return nil, fmt.Errorf("lab %s: key: %w", name, err)
	}
	return ssh.ParsePrivateKey(b)
}

// writeKnownHosts pins every host's key for OpenSSH (tend lab ssh).
func writeKnownHosts(c Config, s *State) error {
	var b strings.Builder
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "%s %s\n", h.Addr, h.HostKey)
	}
	return writeFileAtomic(c.KnownHostsPath(s.Name), []byte(b.String()), 0o644)
}

// Dial connects to a lab host over SSH as root, with its key pinned.
func Dial(ctx context.Context, c Config, s *State, h *Host) (*tssh.Client, error) {
	signer, err := Signer(c, s.Name)
	if err != nil {
		return nil, err
	}
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		return nil, fmt.Errorf("host %s: recorded host key: %w", h.Name, err)
	}
	return tssh.Dial(ctx, tssh.Config{Host: h.Addr, Signer: signer, HostKey: hk, Timeout: 5 * time.Second})
}

// waitSSH waits until the host runs a command over SSH, the process of the
// host dies, or the bound passes.
func waitSSH(ctx context.Context, c Config, lab string, h *Host, bound time.Duration) error {
	s := &State{Name: lab}
	deadline := time.Now().Add(bound)
	var last error
	for {
		if !h.alive() {
			return hint.Wrap(fmt.Errorf("host %s: systemd-nspawn exited while booting:\n%s", h.Name, tail(filepath.Join(h.Dir, "console.log"), 15)),
				"its console log is "+filepath.Join(h.Dir, "console.log"))
		}
		cl, err := Dial(ctx, c, s, h)
		if err == nil {
			// Then wait for the boot to finish, so that the host's
			// services run when Up returns ("degraded" exits 1: fine).
			wctx, cancel := context.WithDeadline(ctx, deadline)
			_, err = cl.Output(wctx, "systemctl is-system-running --wait >/dev/null || true")
			cancel()
			cl.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return hint.Wrap(fmt.Errorf("host %s (%s) did not answer SSH within %s: %v", h.Name, h.Addr, bound, last),
				"its console log is "+filepath.Join(h.Dir, "console.log")+"; give it longer with --wait")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeHost stops the host and removes its processes, mounts, network and
// folder. It is idempotent and does what it can even after a crash.
func removeHost(ctx context.Context, h *Host) error {
	stopHost(h)
	var errs []error
	if err := removeCgroups(cgroupDirs(h.Netns)); err != nil {
		errs = append(errs, err)
	}
	if err := unwireHost(ctx, h); err != nil {
		errs = append(errs, err)
	}
	if err := removeAll(h.Dir); err != nil {
		errs = append(errs, err)
	}
	// systemd-nspawn removes this folder when it exits, but not when it
	// was killed.
	if err := removeAll(filepath.Join("/run/systemd/nspawn/propagate", machineName(h))); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("host %s: remove: %w", h.Name, err)
	}
	return nil
}

// Down removes everything lab name created. A lab that is not up is not an
// error: Down reports false.
func Down(ctx context.Context, c Config, name string) (bool, error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	if os.Geteuid() != 0 {
		return false, Prereqs()
	}
	unlock, err := lockFile(filepath.Join(c.labDir(name), "lock"), 5*time.Minute)
	if err != nil {
		return false, err
	}
	defer unlock()
	s, err := Load(c, name)
	if errors.Is(err, ErrNoLab) {
		_ = os.RemoveAll(c.labDir(name))
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, down(ctx, c, s)
}

func down(ctx context.Context, c Config, s *State) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.Hosts)+1)
	for i, h := range s.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = removeHost(ctx, h)
		}()
	}
	wg.Wait()
	if linkExists(s.Bridge) {
		errs[len(s.Hosts)] = ip(ctx, "link", "del", s.Bridge)
	}
	if err := errors.Join(errs...); err != nil {
		// Keep the state, so that a second down can finish the job.
		return fmt.Errorf("lab %s: down: %w", s.Name, err)
	}
	return os.RemoveAll(c.labDir(s.Name))
}

// tuneMachine raises the machine's inotify limits: every host's systemd,
// dbus and logind take inotify instances, and the usual limit of 128 stops
// the tenth host from booting ("Too many open files").
func tuneMachine(c Config) error {
	for _, t := range []struct {
		path string
		min  int
	}{
		{"/proc/sys/fs/inotify/max_user_instances", 8192},
		{"/proc/sys/fs/inotify/max_user_watches", 524288},
	} {
		b, err := os.ReadFile(t.path)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.path, err)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n >= t.min {
			continue
		}
		c.logf("lab: raising %s to %d", strings.TrimPrefix(t.path, "/proc/sys/"), t.min)
		if err := os.WriteFile(t.path, []byte(strconv.Itoa(t.min)), 0o644); err != nil {
			return hint.Wrap(fmt.Errorf("raise %s: %w", t.path, err), fmt.Sprintf("set it by hand: sysctl -w %s=%d", strings.ReplaceAll(strings.TrimPrefix(t.path, "/proc/sys/"), "/", "."), t.min))
		}
	}
	return nil
}

// machineName is the host's systemd-nspawn machine name: its network
// namespace's name without the "tend-" prefix, "LAB-HOST".
func machineName(h *Host) string { return strings.TrimPrefix(h.Netns, "tend-") }
