// Package swap implements the swap resource, what geerlingguy.swap does: a
// swap file of a given size (mode 0600, root, with a swap signature), its
// /etc/fstab line, the swap turned on, and vm.swappiness set and persisted.
// A container may not turn swap on or change vm.swappiness: there the file,
// its signature, the fstab line and the persisted swappiness converge, and
// the rest is reported as skipped rather than failing. Removal undoes what
// tend made: see Removal.
package swap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"tend/internal/resource"
	"tend/internal/resource/sysctl"
	"tend/internal/spec"
)

// Swap is a swap file in a desired state.
type Swap struct {
	Path       string
	Size       int64 // bytes
	Swappiness *int  // nil: left alone

	Fstab     string       // default /etc/fstab
	ProcSwaps string       // default /proc/swaps
	Sysctl    sysctl.Roots // for vm.swappiness
	// Container reports whether the host is a container (where swapon is
	// not permitted); default: systemd-detect-virt --container.
	Container func(ctx context.Context) (bool, error)
}

var fileMeta = resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}

// minSize is what mkswap accepts at least: ten pages.
var minSize = int64(10 * os.Getpagesize())

// New makes a swap resource from its spec.
func New(path string, s *spec.Swap) (*Swap, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("swap %s: the name must be a clean absolute path", path)
	}
	n, err := ParseSize(s.Size)
	if err != nil {
		return nil, fmt.Errorf("swap %s: %w", path, err)
	}
	if n < minSize {
		return nil, fmt.Errorf("swap %s: size %s is too small: mkswap needs at least %s", path, s.Size, FormatSize(minSize))
	}
	if s.Swappiness != nil && (*s.Swappiness < 0 || *s.Swappiness > 100) {
		return nil, fmt.Errorf("swap %s: swappiness %d is out of range 0-100", path, *s.Swappiness)
	}
	return &Swap{Path: path, Size: n, Swappiness: s.Swappiness,
		Fstab: "/etc/fstab", ProcSwaps: "/proc/swaps", Sysctl: sysctl.DefaultRoots, Container: DetectContainer}, nil
}

// ParseSize parses a size such as 512M or 1G (binary units: K, M, G); a
// plain number is bytes.
func ParseSize(s string) (int64, error) {
	shift := 0
	num := s
	switch {
	case strings.HasSuffix(s, "K"):
		shift, num = 10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		shift, num = 20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		shift, num = 30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q is not a size such as 512M or 1G", s)
	}
	return n << shift, nil
}

// FormatSize formats bytes in the largest unit that divides them.
func FormatSize(n int64) string {
	for _, u := range []struct {
		shift  int
		suffix string
	}{{30, "G"}, {20, "M"}, {10, "K"}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// DetectContainer asks systemd-detect-virt whether this host is a
// container.
func DetectContainer(ctx context.Context) (bool, error) {
	out, err := resource.Command(ctx, "systemd-detect-virt", "--container")
	if err == nil {
		return true, nil
	}
	if strings.TrimSpace(out) == "none" {
		return false, nil
	}
	return false, fmt.Errorf("detect a container: %w", err)
}

// HasSignature reports whether the file at path carries a swap signature
// (mkswap's "SWAPSPACE2" at the end of its first page).
func HasSignature(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 10)
	if _, err := f.ReadAt(b, int64(os.Getpagesize()-10)); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return string(b) == "SWAPSPACE2", nil
}

// Active reports whether path is in the content of /proc/swaps.
func Active(procSwaps, path string) bool {
	sc := bufio.NewScanner(strings.NewReader(procSwaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && unescape(f[0]) == path {
			return true
		}
	}
	return false
}

// unescape undoes the octal escapes of /proc/swaps and /etc/fstab
// (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func escape(s string) string {
	r := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	return r.Replace(s)
}

// FstabLine is the /etc/fstab line of a swap file.
func FstabLine(path string) string { return escape(path) + " none swap sw 0 0" }

// Fstab returns the line of content that mounts path ("" when none), and
// content with the wanted line in place of it (or appended).
func Fstab(content, path string) (have, updated string) {
	lines := strings.SplitAfter(content, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	found := false
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || unescape(f[0]) != path {
			continue
		}
		if !found {
			have = strings.TrimSpace(l)
			found = true
			if len(f) >= 3 && f[2] == "swap" {
				continue // a swap line with other options is kept as it is
			}
			lines[i] = FstabLine(path) + "\n"
		} else {
			lines[i] = "" // a second line for the same path
		}
	}
	if !found {
		if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
			lines[len(lines)-1] += "\n"
		}
		lines = append(lines, FstabLine(path)+"\n")
	}
	return have, strings.Join(lines, "")
}

func (s *Swap) readFstab() (string, error) {
	b, err := os.ReadFile(s.Fstab)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

func (s *Swap) active() (bool, error) {
	b, err := os.ReadFile(s.ProcSwaps)
	if err != nil {
		return false, err
	}
	return Active(string(b), s.Path), nil
}

// Check implements resource.Resource.
func (s *Swap) Check(ctx context.Context) (*resource.Change, error) {
	container, err := s.Container(ctx)
	if err != nil {
		return nil, fmt.Errorf("swap %s: %w", s.Path, err)
	}
	c := &resource.Change{Action: resource.Update}
	fi, have, err := resource.Stat(s.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Action = resource.Create
		c.Add("size", "", FormatSize(s.Size))
		c.Add("mode", "", resource.FormatMode(fileMeta.Mode))
		c.Add("owner", "", fileMeta.Owner)
		c.Add("group", "", fileMeta.Group)
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("swap %s is not a regular file: declare `absent: %s` first to replace it", s.Path, s.Path)
	default:
		c.Add("size", FormatSize(fi.Size()), FormatSize(s.Size))
		resource.CheckMeta(c, have, fileMeta)
		sig, err := HasSignature(s.Path)
		if err != nil {
			return nil, err
		}
		if !sig && !c.Has("size") {
			c.Add("signature", "none", "swap")
		}
	}
	fstab, err := s.readFstab()
	if err != nil {
		return nil, err
	}
	if line, updated := Fstab(fstab, s.Path); updated != fstab {
		c.Add("fstab", line, FstabLine(s.Path))
		if !c.Has("fstab") {
			c.Fields = append(c.Fields, resource.Field{Name: "fstab", From: "duplicate lines", To: FstabLine(s.Path)})
		}
	}
	// What a container does not allow is reported along with real
	// changes, never as a change of its own (the plan would never be empty).
	var skipped []resource.Field
	if s.Swappiness != nil {
		want := strconv.Itoa(*s.Swappiness)
		if where, err := s.Sysctl.Overridden("vm.swappiness", want); err != nil {
			return nil, err
		} else if where != "" {
			return nil, fmt.Errorf("swap %s: %s, which is read after %s at boot and would win: remove that line, or leave swappiness unset here",
				s.Path, where, s.Sysctl.ConfPath("vm.swappiness"))
		}
		if err := s.Sysctl.CheckPersisted(c, "persisted swappiness", "vm.swappiness", want); err != nil {
			return nil, err
		}
		live, err := s.Sysctl.ReadLive("vm.swappiness")
		if err != nil {
			return nil, err
		}
		switch {
		case live.Value == want:
		case container || live.ReadOnly:
			skipped = append(skipped, resource.Field{Name: "swappiness", From: live.Show(), To: "skipped in a container"})
		default:
			c.Add("swappiness", live.Show(), want)
		}
	}
	on, err := s.active()
	if err != nil {
		return nil, err
	}
	switch {
	case container && !on:
		skipped = append(skipped, resource.Field{Name: "active", From: "no", To: "skipped in a container"})
	case !on:
		c.Add("active", "no", "yes")
	}
	if len(c.Fields) > 0 {
		c.Fields = append(c.Fields, skipped...)
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (s *Swap) Apply(ctx context.Context, c *resource.Change) error {
	container, err := s.Container(ctx)
	if err != nil {
		return fmt.Errorf("swap %s: %w", s.Path, err)
	}
	if c.Action == resource.Create || c.Has("size") || c.Has("signature") {
		if on, err := s.active(); err != nil {
			return err
		} else if on {
			if _, err := resource.Command(ctx, "swapoff", s.Path); err != nil {
				return fmt.Errorf("swap %s: turn it off to resize it: %w", s.Path, err)
			}
		}
		if err := s.create(ctx); err != nil {
			return fmt.Errorf("swap %s: %w", s.Path, err)
		}
	} else if c.Has("mode") || c.Has("owner") || c.Has("group") {
		if err := resource.SetMeta(s.Path, fileMeta); err != nil {
			return fmt.Errorf("swap %s: %w", s.Path, err)
		}
	}
	if c.Has("fstab") {
		if err := s.writeFstab(); err != nil {
			return fmt.Errorf("swap %s: %s: %w", s.Path, s.Fstab, err)
		}
	}
	if s.Swappiness != nil {
		want := strconv.Itoa(*s.Swappiness)
		live, err := s.Sysctl.ReadLive("vm.swappiness")
		if err != nil {
			return err
		}
		if c.Has("swappiness") && !container {
			if !live.ReadOnly {
				if err := s.Sysctl.WriteLive("vm.swappiness", want, live); err != nil {
					return err
				}
			}
		}
		if c.Has("persisted swappiness") {
			if err := s.Sysctl.WritePersisted("vm.swappiness", want, live.Value); err != nil {
				return err
			}
		}
	}
	if !container {
		if on, err := s.active(); err != nil {
			return err
		} else if !on {
			if _, err := resource.Command(ctx, "swapon", s.Path); err != nil {
				return fmt.Errorf("swap %s: turn it on: %w", s.Path, err)
			}
		}
	}
	return nil
}

// create makes the swap file beside its path and renames it into place:
// allocated (not sparse: swapon refuses holes), mode 0600, mkswap.
func (s *Swap) create(ctx context.Context) error {
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tend-"+filepath.Base(s.Path)+".swap")
	os.Remove(tmp) // left by an interrupted run
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chown(0, 0); err != nil {
		return err
	}
	if err := allocate(f, s.Size); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("not enough free space in %s for %s of swap: free some, or choose a smaller size", dir, FormatSize(s.Size))
		}
		return fmt.Errorf("allocate %s: %w", FormatSize(s.Size), err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "mkswap", tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.Path); err != nil {
		return err
	}
	ok = true
	return resource.SyncDir(dir)
}

// allocate gives f size bytes of real blocks: fallocate where the file
// system has it, else zeros written out (what dd would do).
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil || !(errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)) {
		return err
	}
	zero := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(zero)))
		if _, err := f.Write(zero[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func (s *Swap) writeFstab() error {
	content, err := s.readFstab()
	if err != nil {
		return err
	}
	_, updated := Fstab(content, s.Path)
	m := resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}
	if _, have, err := resource.Stat(s.Fstab); err == nil {
		m = have
	}
	return resource.WriteFile(s.Fstab, []byte(updated), m)
}
