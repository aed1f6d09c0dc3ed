package timer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"tend/internal/resource"
)

// Removal removes a timer: the timer is stopped and disabled, a run of
// its job in progress is stopped, both unit files go from
// /etc/systemd/system and systemd reloads. The units are tend's by their
// content (tend wrote them whole), so they go whoever wrote them first.
type Removal struct {
	Name string
}

func (r *Removal) paths() []string {
	return []string{filepath.Join(UnitDir, r.Name+".timer"), filepath.Join(UnitDir, r.Name+".service")}
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	c := &resource.Change{Action: resource.Delete}
	for _, p := range r.paths() {
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a regular file (a link, a masked unit?), not the unit tend wrote: remove it by hand", p)
		}
		c.Add(filepath.Base(p), fmt.Sprintf("%d bytes", fi.Size()), "")
	}
	t := &Timer{Name: r.Name}
	enabled, active := t.state(ctx)
	if enabled {
		c.Add("enabled", "true", "false")
	}
	if active {
		c.Add("active", "true", "false")
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Remove implements resource.Remover. Interrupted, the next run finishes
// it: each step is skipped once done.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	t := &Timer{Name: r.Name}
	if enabled, active := t.state(ctx); enabled || active {
		if _, err := resource.Command(ctx, "systemctl", "disable", "--now", "--", r.Name+".timer"); err != nil {
			return fmt.Errorf("timer %s: stop and disable: %w", r.Name, err)
		}
	}
	// A run in progress ends now, rather than outlive its unit.
	out, _ := exec.CommandContext(ctx, "systemctl", "is-active", "--", r.Name+".service").Output()
	switch strings.TrimSpace(string(out)) {
	case "active", "activating", "deactivating", "reloading":
		if _, err := resource.Command(ctx, "systemctl", "stop", "--", r.Name+".service"); err != nil {
			return fmt.Errorf("timer %s: stop the job: %w", r.Name, err)
		}
	}
	removed := false
	for _, p := range r.paths() {
		err := os.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("timer %s: %w", r.Name, err)
		}
		removed = removed || err == nil
	}
	if !removed {
		return nil
	}
	if err := resource.SyncDir(UnitDir); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
		return fmt.Errorf("timer %s: %w", r.Name, err)
	}
	// A job that failed stays listed as failed until reset.
	_, _ = resource.Command(ctx, "systemctl", "reset-failed", "--", r.Name+".service", r.Name+".timer")
	return nil
}
