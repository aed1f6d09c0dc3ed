package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Every host runs in cgroups of its own, created by the lab. Without them,
// all hosts' systemd would share the cgroups of the process that started
// them and remove or reuse each other's (init.scope, system.slice...):
// their units then fail at random with status 219 (CGROUP).

// cgroupDirs returns the host's cgroup folder in every cgroup hierarchy
// this process belongs to, below this process's own cgroup; id names the
// host uniquely on the machine (its network namespace's name).
func cgroupDirs(id string) []string {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	mounts := cgroupMounts()
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		mp, ok := mounts[f[1]]
		if !ok {
			continue
		}
		dirs = append(dirs, filepath.Join(mp, f[2], "tend-lab", id))
	}
	slices.Sort(dirs)
	return dirs
}

// cgroupMounts maps the controller list of each mounted cgroup hierarchy
// ("cpu", "name=systemd", "" for cgroup2) to its mount point.
func cgroupMounts() map[string]string {
	out := map[string]string{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		pre, post := strings.Fields(line[:i]), strings.Fields(line[i+3:])
		if len(pre) < 5 || len(post) < 3 {
			continue
		}
		switch post[0] {
		case "cgroup2":
			out[""] = unescapeMount(pre[4])
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(post[2], ",") {
				switch {
				case strings.HasPrefix(o, "name="):
					ctrls = append(ctrls, o)
				case o == "rw" || o == "ro" || strings.Contains(o, "=") || o == "clone_children" || o == "noprefix" || o == "xattr":
				default:
					ctrls = append(ctrls, o)
				}
			}
			// /proc/self/cgroup lists a hierarchy's controllers in the
			// kernel's order; the mount options have them in the same.
			out[strings.Join(ctrls, ",")] = unescapeMount(pre[4])
		}
	}
	return out
}

// makeCgroups creates the host's cgroups (cpuset ones need their parent's
// cpus and memory nodes before a process may join).
func makeCgroups(dirs []string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			for _, dir := range []string{filepath.Dir(d), d} { // tend-lab, then the host
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					continue
				}
				if b, _ := os.ReadFile(filepath.Join(dir, f)); len(strings.TrimSpace(string(b))) > 0 {
					continue
				}
				parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
					return fmt.Errorf("cgroup %s: %s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

// removeCgroups removes the host's cgroups and what its systemd made in
// them, deepest first, waiting briefly for their last processes to go.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		var all []string
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
		for _, p := range all {
			var err error
			for i := 0; i < 50; i++ {
				if err = syscall.Rmdir(p); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
