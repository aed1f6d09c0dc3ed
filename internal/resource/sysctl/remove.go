package sysctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tend/internal/resource"
)

// Removal removes a sysctl: its persisted file goes (the file is tend's by
// its name), and the kernel gets back the value it has without it: what
// the rest of the configuration sets (what sysctl --system would give),
// else the value the file noted from before tend, else the one the record
// kept (Prior). When none is known the value stays until the next boot,
// and the change says so. A file that no longer sets the value this
// resource set belongs to whatever set the other value (a resource naming
// the same parameter otherwise, a hand edit): it stays.
type Removal struct {
	Name  string
	Value string // the value the resource set; "" when not known
	Roots Roots
}

// NewRemoval makes the removal of parameter name, set to value by the
// resource ("" when not known).
func NewRemoval(name, value string) *Removal {
	return &Removal{Name: Dotted(name), Value: Normalize(value), Roots: DefaultRoots}
}

// Restore returns the value parameter name goes back to once its persisted
// file p is gone, and where it comes from; "" when it is not known.
func (r Roots) Restore(name string, p Persisted, prior map[string]string) (value, from string, err error) {
	v, where, err := r.Configured(name)
	switch {
	case err != nil:
		return "", "", err
	case v != "":
		return v, "set by " + where, nil
	case p.Before != "":
		return p.Before, "its value before tend", nil
	case prior["value"] != "" && !strings.HasPrefix(prior["value"], "mixed: "):
		return Normalize(prior["value"]), "its value before tend", nil
	}
	return "", "", nil
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	p, err := r.Roots.ReadPersisted(r.Name)
	if err != nil || !p.Exists {
		return nil, err
	}
	if r.Value != "" && p.Value != r.Value && !how.Explicit {
		return resource.Kept(fmt.Sprintf("%s now sets %s = %s, not the %s this resource set: it is left as it is", r.Roots.ConfPath(r.Name), r.Name, p.Value, r.Value)), nil
	}
	c, _, err := r.Roots.checkRemove(r.Name, how.Prior)
	return c, err
}

// checkRemove returns the removal of the persisted file of name (nil when
// there is none) and the value the kernel gets back ("" for none).
func (r Roots) checkRemove(name string, prior map[string]string) (*resource.Change, string, error) {
	p, err := r.ReadPersisted(name)
	if err != nil || !p.Exists {
		return nil, "", err
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("persisted", p.Value, "")
	if !c.Has("persisted") {
		c.Add("file", r.ConfPath(name), "")
	}
	target, from, err := r.Restore(name, p, prior)
	if err != nil {
		return nil, "", err
	}
	live, err := r.ReadLive(name)
	switch {
	case err != nil:
		c.Reason = "the parameter is not in the kernel now"
		return c, "", nil
	case target == "":
		c.Reason = fmt.Sprintf("no configuration sets it and its value before tend is not known: %s stays %s until the next boot", name, live.Show())
	case live.Value == target:
	case live.ReadOnly:
		c.Reason = fmt.Sprintf("this host does not let it be changed: %s stays %s until the next boot, then %s (%s)", name, live.Show(), target, from)
		target = ""
	default:
		c.Add("value", live.Show(), target)
		c.Reason = "back to " + from
	}
	return c, target, nil
}

// Remove implements resource.Remover: the kernel gets the value first, so
// that a value it refuses leaves the file in place for the next run.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	return r.Roots.remove(r.Name, c, how.Prior)
}

func (r Roots) remove(name string, c *resource.Change, prior map[string]string) error {
	if c.Has("value") {
		_, target, err := r.checkRemove(name, prior)
		if err != nil {
			return err
		}
		if target != "" {
			live, err := r.ReadLive(name)
			if err != nil {
				return err
			}
			if err := r.WriteLive(name, target, live); err != nil {
				return err
			}
		}
	}
	path := r.ConfPath(name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return resource.SyncDir(filepath.Dir(path))
}

// CheckRemovePersisted returns the removal of the persisted file of
// parameter name, nil when there is none: the kernel gets back its value
// without it, as for a sysctl's removal. For the swap resource's
// swappiness.
func (r Roots) CheckRemovePersisted(name string) (*resource.Change, error) {
	c, _, err := r.checkRemove(name, nil)
	return c, err
}

// RemovePersisted makes the removal CheckRemovePersisted returned.
func (r Roots) RemovePersisted(name string, c *resource.Change) error { return r.remove(name, c, nil) }
