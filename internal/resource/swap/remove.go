package swap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"tend/internal/resource"
	"tend/internal/resource/sysctl"
	"tend/internal/spec"
)

// Removal removes a swap file tend created: the swap is turned off, its
// /etc/fstab line goes, the swappiness it persisted goes (the kernel gets
// back the value it has without it, as for a sysctl), then the file. A
// swap file that was there before tend stays unless the spec says
// state: absent.
type Removal struct {
	Path       string
	Swappiness *int // the resource's; nil: it left swappiness alone

	Fstab     string
	ProcSwaps string
	Sysctl    sysctl.Roots
}

// NewRemoval makes the removal of the swap file at path, from its spec.
func NewRemoval(path string, s *spec.Swap) (*Removal, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("swap %s: the name must be a clean absolute path", path)
	}
	return &Removal{Path: path, Swappiness: s.Swappiness, Fstab: "/etc/fstab", ProcSwaps: "/proc/swaps", Sysctl: sysctl.DefaultRoots}, nil
}

// FstabWithout returns content without the lines that mount path.
func FstabWithout(content, path string) string {
	lines := strings.SplitAfter(content, "\n")
	out := lines[:0]
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") && unescape(f[0]) == path {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

func (r *Removal) swap() *Swap { return &Swap{Path: r.Path, Fstab: r.Fstab, ProcSwaps: r.ProcSwaps} }

// swappiness returns the removal of the swappiness this resource
// persisted, nil when there is none (or another value is persisted now:
// something else set it).
func (r *Removal) swappiness() (*resource.Change, error) {
	if r.Swappiness == nil {
		return nil, nil
	}
	p, err := r.Sysctl.ReadPersisted("vm.swappiness")
	if err != nil || !p.Exists || p.Value != strconv.Itoa(*r.Swappiness) {
		return nil, err
	}
	return r.Sysctl.CheckRemovePersisted("vm.swappiness")
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	s := r.swap()
	fi, err := os.Lstat(r.Path)
	file := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fstab, err := s.readFstab()
	if err != nil {
		return nil, err
	}
	line, _ := Fstab(fstab, r.Path)
	on, err := s.active()
	if err != nil {
		return nil, err
	}
	if !file && line == "" && !on {
		return nil, nil
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("swap %s was on the host before tend managed it: it stays; declare it with state: absent to remove it", r.Path)), nil
	}
	c := &resource.Change{Action: resource.Delete}
	if on {
		c.Add("active", "yes", "no")
	}
	c.Add("fstab", line, "")
	sw, err := r.swappiness()
	if err != nil {
		return nil, err
	}
	if sw != nil {
		for _, f := range sw.Fields {
			switch f.Name {
			case "persisted":
				f.Name = "persisted swappiness"
			case "value":
				f.Name = "swappiness"
			default:
				f.Name = "swappiness " + f.Name
			}
			c.Fields = append(c.Fields, f)
		}
		c.Reason = sw.Reason
	}
	if file {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("swap %s is not a regular file: tend does not delete it; declare `absent: %s` to", r.Path, r.Path)
		}
		if sig, err := HasSignature(r.Path); err != nil {
			return nil, err
		} else if !sig {
			return nil, fmt.Errorf("swap %s has no swap signature: it is not a swap file, and tend does not delete it; declare `absent: %s` to", r.Path, r.Path)
		}
		c.Add("file", FormatSize(fi.Size()), "")
	}
	return c, nil
}

// Remove implements resource.Remover, in an order that a run interrupted
// anywhere leaves to the next one to finish: the file goes last.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	s := r.swap()
	if on, err := s.active(); err != nil {
		return err
	} else if on {
		if _, err := resource.Command(ctx, "swapoff", r.Path); err != nil {
			return fmt.Errorf("swap %s: turn it off: %w", r.Path, err)
		}
	}
	content, err := s.readFstab()
	if err != nil {
		return err
	}
	if updated := FstabWithout(content, r.Path); updated != content {
		m := resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}
		if _, have, err := resource.Stat(r.Fstab); err == nil {
			m = have
		}
		if err := resource.WriteFile(r.Fstab, []byte(updated), m); err != nil {
			return fmt.Errorf("swap %s: %s: %w", r.Path, r.Fstab, err)
		}
	}
	sw, err := r.swappiness()
	if err != nil {
		return err
	}
	if sw != nil {
		if err := r.Sysctl.RemovePersisted("vm.swappiness", sw); err != nil {
			return fmt.Errorf("swap %s: %w", r.Path, err)
		}
	}
	if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("swap %s: %w", r.Path, err)
	}
	return resource.SyncDir(filepath.Dir(r.Path))
}
