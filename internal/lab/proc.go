package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTime returns a process's start time in clock ticks since boot, which
// together with the PID names one process even after the PID is reused.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" { // a zombie has finished
		return 0, false
	}
	t, err := strconv.ParseUint(f[19], 10, 64) // field 22 of stat
	return t, err == nil
}

// alive reports whether the recorded process still runs.
func (h *Host) alive() bool {
	if h.PID <= 0 {
		return false
	}
	t, ok := startTime(h.PID)
	return ok && t == h.Start
}

// hostProcesses finds every process that belongs to the host: its
// systemd-nspawn (found by its --directory argument, so also one tend never
// recorded because it crashed) and everything inside the host, found by the
// host's network namespace. (A host's processes live in their own mount
// namespace, where their root is "/": the root link cannot tell them apart.)
func hostProcesses(h *Host) (nspawn, inside []int) {
	merged := h.Merged()
	var netns syscall.Stat_t
	haveNS := syscall.Stat(filepath.Join("/run/netns", h.Netns), &netns) == nil
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, running := startTime(pid); !running {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if slices.Contains(strings.Split(string(cmd), "\x00"), "--directory="+merged) {
			nspawn = append(nspawn, pid)
			continue
		}
		var st syscall.Stat_t
		if haveNS && syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == netns.Ino && st.Dev == netns.Dev {
			inside = append(inside, pid)
		}
	}
	return nspawn, inside
}

// stopHost kills the host's processes. A lab host is thrown away with its
// writable layer, so there is nothing a clean shutdown would save, and it
// would take seconds (PostgreSQL, postfix...).
func stopHost(h *Host) {
	for i := 0; i < 100; i++ {
		n, in := hostProcesses(h)
		if len(n)+len(in) == 0 {
			return
		}
		// The host's processes first: killing systemd-nspawn alone
		// would leave the host running without it.
		for _, pid := range append(in, n...) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mountsUnder lists the machine's mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything at or below dir.
func unmountAll(dir string) error {
	var errs []error
	for _, mp := range mountsUnder(dir) {
		var err error
		for i := 0; i < 20; i++ {
			if err = syscall.Unmount(mp, 0); err == nil || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			// Still busy after two seconds: detach it, so it goes as soon
			// as the last user does and nothing new can reach it.
			err = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		if err != nil {
			errs = append(errs, &os.PathError{Op: "unmount", Path: mp, Err: err})
		}
	}
	return errors.Join(errs...)
}

// removeAll removes dir; a path still mounted is unmounted first.
func removeAll(dir string) error {
	if err := unmountAll(dir); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Clean(dir))
}

// InitPID returns the PID, on this machine, of the host's PID 1 (systemd),
// for entering its namespaces with nsenter.
func (h *Host) InitPID() (int, error) {
	if !h.alive() {
		return 0, fmt.Errorf("host %s is not running", h.Name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", h.PID, h.PID))
	if err != nil {
		return 0, fmt.Errorf("host %s: %w", h.Name, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("host %s: systemd-nspawn has no child yet", h.Name)
	}
	return strconv.Atoi(f[0])
}
