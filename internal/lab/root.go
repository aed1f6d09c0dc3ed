package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"tend/internal/hint"
)

// rootRecipe changes whenever the way a root is built changes, so that roots
// built the old way are not reused.
const rootRecipe = "tend-lab-root-v1"

// suite is the Debian release every lab host runs.
const suite = "bookworm"

// repoDir is where the local apt repository lives inside a root.
const repoDir = "/var/lib/tend-lab/apt"

// Root is a cached root file system, built once per package list.
type Root struct {
	Dir          string   // the root file system, read-only lower layer of every host
	Key          string   // hash of the recipe and package lists
	Packages     []string // installed
	RepoPackages []string // offered by the local apt repository
}

// rootKey hashes what a root is made of. Lists are sorted and deduplicated,
// so the same set in another order is the same root.
func rootKey(pkgs, repo []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", rootRecipe, suite, strings.Join(pkgs, ","), strings.Join(repo, ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func normalise(lists ...[]string) []string {
	var all []string
	for _, l := range lists {
		for _, p := range l {
			if p = strings.TrimSpace(p); p != "" {
				all = append(all, p)
			}
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// EnsureRoot returns the cached root for the base packages plus extra, with
// a local apt repository offering repo. It builds the root the first time
// (debootstrap, then apt-get), under a lock so concurrent callers build once.
func EnsureRoot(ctx context.Context, c Config, extra, repo []string) (*Root, error) {
	pkgs := normalise(BasePackages, extra)
	repo = normalise(repo)
	for _, p := range append(slices.Clone(pkgs), repo...) {
		if !validPackage(p) {
			return nil, hint.New(fmt.Sprintf("invalid Debian package name %q", p), "package names are lowercase letters, digits and + - .")
		}
	}
	key := rootKey(pkgs, repo)
	r := &Root{Dir: filepath.Join(c.CacheDir, "roots", key), Key: key, Packages: pkgs, RepoPackages: repo}
	ready := r.Dir + ".ready"
	if _, err := os.Stat(ready); err == nil {
		return r, nil
	}
	unlock, err := lockFile(r.Dir+".lock", 30*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(ready); err == nil { // built while we waited
		return r, nil
	}
	c.logf("lab: building the root file system %s (once; cached in %s)", key, c.CacheDir)
	start := time.Now()
	if err := buildRoot(ctx, c, r); err != nil {
		return nil, err
	}
	c.logf("lab: root %s built in %s", key, time.Since(start).Round(time.Second))
	return r, os.WriteFile(ready, []byte(strings.Join(pkgs, "\n")+"\n"), 0o644)
}

func validPackage(p string) bool {
	if p == "" || len(p) > 100 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("+-.", r)) {
			return false
		}
	}
	return true
}

// buildRoot builds r into a temporary folder and renames it into place, so a
// crash never leaves a half-built root that looks ready.
func buildRoot(ctx context.Context, c Config, r *Root) error {
	tmp := r.Dir + ".build"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(r.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	logPath := r.Dir + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	run := func(what string, name string, args ...string) error {
		fmt.Fprintf(logf, "\n$ %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8")
		if err := cmd.Run(); err != nil {
			return hint.Wrap(fmt.Errorf("lab root: %s: %w\n%s", what, err, tail(logPath, 12)), "the full log is in "+logPath)
		}
		return nil
	}
	// chroot runs a shell script inside the root in a private mount
	// namespace, so /proc and /dev mounted for it vanish with it.
	chroot := func(what, script string) error {
		return run(what, "unshare", "--mount", "--propagation", "private", "sh", "-ec",
			`mount -t proc proc "$0/proc"; mount --rbind /dev "$0/dev"; mount -t sysfs sys "$0/sys"; chroot "$0" sh -ec "$1"`, tmp, script)
	}

	args := []string{"--variant=minbase", "--include=" + strings.Join(BasePackages, ","),
		"--cache-dir=" + filepath.Join(c.CacheDir, "debs"), suite, tmp}
	if m := mirror(c); m != "" {
		args = append(args, m)
	}
	if err := os.MkdirAll(filepath.Join(c.CacheDir, "debs"), 0o755); err != nil {
		return err
	}
	c.logf("lab: debootstrap %s (about a minute)", suite)
	if err := run("debootstrap", "debootstrap", args...); err != nil {
		return err
	}
	copyMachineSources(tmp)
	if err := copyFile("/etc/resolv.conf", filepath.Join(tmp, "etc/resolv.conf"), 0o644); err != nil {
		return fmt.Errorf("lab root: copy resolv.conf: %w", err)
	}
	// No service starts while packages are installed into the root.
	if err := os.WriteFile(filepath.Join(tmp, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	extra := slices.DeleteFunc(slices.Clone(r.Packages), func(p string) bool { return slices.Contains(BasePackages, p) })
	apt := "apt-get -q -o Dpkg::Use-Pty=0 "
	script := apt + "update\n"
	if len(extra) > 0 {
		c.logf("lab: installing %s", strings.Join(extra, " "))
		script += apt + "install -y --no-install-recommends " + strings.Join(extra, " ") + "\n"
	}
	if len(r.RepoPackages) > 0 {
		// Download what installing the repo packages would need on top of
		// this root: exactly the files the local repository must offer.
		script += "mkdir -p " + repoDir + "/partial\n" +
			apt + "install -y --no-install-recommends --download-only -o Dir::Cache::Archives=" + repoDir + "/ " +
			strings.Join(r.RepoPackages, " ") + "\nrm -rf " + repoDir + "/partial " + repoDir + "/lock\n"
	}
	script += apt + "clean\n"
	if err := chroot("install packages", script); err != nil {
		return err
	}
	if err := makeRepo(ctx, filepath.Join(tmp, repoDir)); err != nil {
		return err
	}
	if err := finishRoot(tmp); err != nil {
		return fmt.Errorf("lab root: %w", err)
	}
	// Only the local repository from now on: lab hosts have no route out.
	if err := chroot("index the local apt repository", apt+"update"); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(tmp, "usr/sbin/policy-rc.d")); err != nil {
		return err
	}
	return os.Rename(tmp, r.Dir)
}

// mirror is the Debian mirror for debootstrap: the configured one, else the
// one the machine's own apt uses, else debootstrap's default ("").
func mirror(c Config) string {
	if c.Mirror != "" {
		return c.Mirror
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if u, ok := strings.CutPrefix(line, "URIs:"); ok {
				if u = strings.TrimSpace(u); strings.HasSuffix(strings.TrimRight(u, "/"), "/debian") {
					return u
				}
			}
		}
	}
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "deb" && f[2] == suite {
				return f[1]
			}
		}
	}
	return ""
}

// copyMachineSources gives the root the machine's own apt sources (with its
// updates and security suites) when the machine runs the same release.
func copyMachineSources(root string) {
	osr, err := os.ReadFile("/etc/os-release")
	if err != nil || !bytes.Contains(osr, []byte("VERSION_CODENAME="+suite)) {
		return
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files2, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(files, files2...)
	if len(files) == 0 {
		return
	}
	for _, f := range files {
		_ = copyFile(f, filepath.Join(root, f), 0o644)
	}
	_ = os.Remove(filepath.Join(root, "etc/apt/sources.list"))
}

// makeRepo indexes the downloaded packages as a flat apt repository.
func makeRepo(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return hint.Wrap(fmt.Errorf("lab root: dpkg-scanpackages: %w: %s", err, strings.TrimSpace(errb.String())),
			"install it with: apt-get install -y dpkg-dev")
	}
	return os.WriteFile(filepath.Join(dir, "Packages"), out.Bytes(), 0o644)
}

// finishRoot makes the root into a template for many hosts: no identity of
// its own (host keys, machine-id, hostname come per host), sshd on the
// per-host ed25519 key, apt on the local repository only, no timers that
// would reach for the network.
func finishRoot(root string) error {
	p := func(rel string) string { return filepath.Join(root, rel) }
	keys, _ := filepath.Glob(p("etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	for _, f := range []string{"etc/hostname", "var/lib/dbus/machine-id"} {
		if err := os.Remove(p(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	files := map[string]string{
		"etc/machine-id":  "",
		"etc/resolv.conf": "# lab hosts have no route to the outside, and no resolver\n",
		"etc/ssh/sshd_config.d/tend-lab.conf": "# tend lab: one host key per host, keys only\n" +
			"HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n",
		"etc/apt/sources.list": "# tend lab: the local repository (lab hosts have no route to the outside)\n" +
			"deb [trusted=yes] file:" + repoDir + " ./\n",
	}
	for rel, content := range files {
		if err := os.MkdirAll(filepath.Dir(p(rel)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p(rel), []byte(content), 0o644); err != nil {
			return err
		}
	}
	others, _ := filepath.Glob(p("etc/apt/sources.list.d/*"))
	for _, f := range others {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, unit := range []string{"apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer"} {
		link := p("etc/systemd/system/" + unit)
		_ = os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst) // may be a dangling symlink
	return os.WriteFile(dst, b, mode)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[a-zA-Z]`)

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, ansi.ReplaceAllString(sc.Text(), ""))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
