package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Removal removes a service. One tend created (it wrote its unit file) is
// stopped and disabled, and its unit file goes, with a daemon-reload. One
// it did not (a unit a package ships, which tend only started or enabled)
// goes back to whether it was enabled and running before tend first
// changed it, and is otherwise left as it is; state: absent stops and
// disables any service, and deletes its unit file in /etc/systemd/system.
type Removal struct {
	Name    string // without .service
	UnitDir string // default /etc/systemd/system
}

// NewRemoval makes the removal of the service name.
func NewRemoval(name string) (*Removal, error) {
	s, err := New(name, &spec.Service{})
	if err != nil {
		return nil, err
	}
	return &Removal{Name: s.Name, UnitDir: s.UnitDir}, nil
}

func (r *Removal) service() *Service { return &Service{Name: r.Name, UnitDir: r.UnitDir} }

// up reports whether an ActiveState counts as running.
func up(activeState string) bool { return State{ActiveState: activeState}.Running() }

// on reports whether a UnitFileState counts as enabled.
func on(unitFileState string) bool { return State{UnitFileState: unitFileState}.Enabled() }

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	s := r.service()
	st, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(s.unitPath())
	file := err == nil && fi.Mode().IsRegular()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if how.Created || how.Explicit {
		c := &resource.Change{Action: resource.Delete}
		if st.Enabled() {
			c.Add("enabled", st.UnitFileState, "disabled")
		}
		if st.Running() {
			c.Add("running", st.ActiveState, "inactive")
		}
		if file {
			c.Add("unit", fmt.Sprintf("%d bytes", fi.Size()), "")
		}
		if len(c.Fields) == 0 {
			return nil, nil
		}
		return c, nil
	}
	prevOn, hasOn := how.Prior["enabled"]
	prevUp, hasUp := how.Prior["running"]
	if !hasOn && !hasUp {
		if st.LoadState == "not-found" && !file {
			return nil, nil
		}
		return resource.Kept(fmt.Sprintf("service %s was on the host before tend managed it: it stays as it is; declare it with state: absent to stop and disable it", r.Name)), nil
	}
	c := &resource.Change{Action: resource.Update, Reason: "back to how it was before tend changed it"}
	if hasOn && on(prevOn) != st.Enabled() {
		to := "disabled"
		if on(prevOn) {
			to = "enabled"
		}
		c.Add("enabled", st.UnitFileState, to)
	}
	if hasUp && up(prevUp) != st.Running() {
		to := "inactive"
		if up(prevUp) {
			to = "active"
		}
		c.Add("running", st.ActiveState, to)
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Remove implements resource.Remover: enable or disable, then start or
// stop, then the unit file goes and systemd reloads. Interrupted, the next
// run finishes it.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	s := r.service()
	systemctl := func(verb string) error { return s.systemctl(ctx, verb) }
	if err := s.enable(ctx, c); err != nil {
		return err
	}
	for _, f := range c.Fields {
		var err error
		switch {
		case f.Name == "running" && f.To == "active":
			err = systemctl("start")
		case f.Name == "running":
			err = systemctl("stop")
		}
		if err != nil {
			return fmt.Errorf("%w (journalctl -u %s tells why)", err, s.unit())
		}
	}
	if !c.Has("unit") {
		return nil
	}
	if err := os.Remove(s.unitPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("service %s: %w", s.Name, err)
	}
	if err := resource.SyncDir(s.UnitDir); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
		return fmt.Errorf("service %s: %w", s.Name, err)
	}
	// A unit that failed stays listed as failed until reset.
	_, _ = resource.Command(ctx, "systemctl", "reset-failed", "--", s.unit())
	return nil
}
