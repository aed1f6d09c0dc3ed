// Package service implements the service resource: a systemd service, its
// unit file's content (/etc/systemd/system/NAME.service), whether it is
// enabled at boot and whether it runs. systemd reloads its configuration
// only when a unit file changed (or was changed without a reload), and a
// running service whose unit changed is restarted. Removal undoes it: see
// Removal.
package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Service is a systemd service in a desired state.
type Service struct {
	Name    string // without .service
	Unit    string // unit file content; "" leaves the unit file alone
	Enabled *bool  // nil: left alone
	Running *bool  // nil: left alone
	UnitDir string // default /etc/systemd/system
}

// New makes a service resource from its spec.
func New(name string, s *spec.Service) (*Service, error) {
	name = strings.TrimSuffix(name, ".service")
	if name == "" || strings.ContainsAny(name, "/ \n") {
		return nil, fmt.Errorf("service %q: not a unit name", name)
	}
	return &Service{Name: name, Unit: s.Unit, Enabled: s.Enabled, Running: s.Running, UnitDir: "/etc/systemd/system"}, nil
}

func (s *Service) unit() string     { return s.Name + ".service" }
func (s *Service) unitPath() string { return filepath.Join(s.UnitDir, s.unit()) }

// State is what systemd says of a unit (systemctl show).
type State struct {
	LoadState        string // loaded, not-found, masked...
	ActiveState      string // active, inactive, failed, activating...
	UnitFileState    string // enabled, disabled, static, masked... ("" when not found)
	NeedDaemonReload bool   // the unit file changed since systemd loaded it
}

// ParseShow parses the output of systemctl show -p ... (KEY=VALUE lines).
func ParseShow(out string) State {
	var st State
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "LoadState":
			st.LoadState = v
		case "ActiveState":
			st.ActiveState = v
		case "UnitFileState":
			st.UnitFileState = v
		case "NeedDaemonReload":
			st.NeedDaemonReload = v == "yes"
		}
	}
	return st
}

// Running reports whether the unit counts as running.
func (st State) Running() bool {
	switch st.ActiveState {
	case "active", "reloading", "activating":
		return true
	}
	return false
}

// Enabled reports whether the unit is enabled at boot.
func (st State) Enabled() bool {
	return st.UnitFileState == "enabled" || st.UnitFileState == "enabled-runtime"
}

func (s *Service) state(ctx context.Context) (State, error) {
	out, err := resource.Command(ctx, "systemctl", "show", "-p", "LoadState,ActiveState,UnitFileState,NeedDaemonReload", "--", s.unit())
	if err != nil {
		return State{}, fmt.Errorf("service %s: ask systemd: %w", s.Name, err)
	}
	return ParseShow(out), nil
}

// Plan returns the change that brings a service from its state st and unit
// file content have (exists: whether the file exists) to s, or nil.
func (s *Service) Plan(st State, have string, exists bool) (*resource.Change, error) {
	c := &resource.Change{Action: resource.Update}
	unitChanged := false
	if s.Unit != "" {
		if !exists {
			c.Action = resource.Create
			c.Add("unit", "", fmt.Sprintf("%d bytes", len(s.Unit)))
			c.Diff = resource.Diff(s.unitPath(), "", s.Unit)
			unitChanged = true
		} else if have != s.Unit {
			c.Add("unit", fmt.Sprintf("%d bytes", len(have)), fmt.Sprintf("%d bytes", len(s.Unit)))
			if !c.Has("unit") {
				c.Fields = append(c.Fields, resource.Field{Name: "unit", From: "changed", To: "changed"})
			}
			c.Diff = resource.Diff(s.unitPath(), have, s.Unit)
			unitChanged = true
		} else if st.NeedDaemonReload {
			// Written by an earlier run (or by hand) and never loaded.
			c.Add("daemon-reload", "", "unit file not loaded yet")
			unitChanged = true
		}
	} else if st.LoadState == "not-found" || st.LoadState == "" {
		return nil, fmt.Errorf("service %s: systemd has no unit %s: install the package that provides it first, or give its unit", s.Name, s.unit())
	}
	wantUp := s.Running != nil && *s.Running
	wantOn := s.Enabled != nil && *s.Enabled
	if st.UnitFileState == "masked" || st.LoadState == "masked" {
		if wantUp || wantOn || unitChanged {
			return nil, fmt.Errorf("service %s is masked (systemctl mask): unmask it by hand if it should run again", s.Name)
		}
	}
	if s.Enabled != nil {
		switch {
		case *s.Enabled && st.UnitFileState == "static" && !unitChanged:
			return nil, fmt.Errorf("service %s cannot be enabled: its unit has no [Install] section (static): add one (WantedBy=multi-user.target), or leave enabled unset", s.Name)
		case *s.Enabled && st.UnitFileState != "enabled":
			c.Add("enabled", st.UnitFileState, "enabled")
		case !*s.Enabled && st.Enabled():
			c.Add("enabled", st.UnitFileState, "disabled")
		}
	}
	active := st.Running()
	switch {
	case s.Running != nil && *s.Running && !active:
		c.Add("running", st.ActiveState, "active")
	case s.Running != nil && !*s.Running && active:
		c.Add("running", st.ActiveState, "inactive")
	case unitChanged && active:
		c.Add("restart", "", "unit changed")
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Check implements resource.Resource.
func (s *Service) Check(ctx context.Context) (*resource.Change, error) {
	st, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	var have []byte
	exists := false
	if s.Unit != "" {
		fi, err := os.Lstat(s.unitPath())
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("service %s: %s is not a regular file (a link, or a masked unit?): remove it to let tend manage the unit", s.Name, s.unitPath())
		default:
			exists = true
			if have, err = os.ReadFile(s.unitPath()); err != nil {
				return nil, err
			}
		}
	}
	return s.Plan(st, string(have), exists)
}

// Apply implements resource.Resource: unit file, daemon-reload, enable or
// disable, then start, stop or restart.
func (s *Service) Apply(ctx context.Context, c *resource.Change) error {
	systemctl := func(verb string) error { return s.systemctl(ctx, verb) }
	if c.Has("unit") {
		if err := os.MkdirAll(s.UnitDir, 0o755); err != nil {
			return err
		}
		if err := resource.WriteFile(s.unitPath(), []byte(s.Unit), resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}); err != nil {
			return fmt.Errorf("service %s: write unit: %w", s.Name, err)
		}
	}
	if c.Has("unit") || c.Has("daemon-reload") {
		if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
	}
	if err := s.enable(ctx, c); err != nil {
		return err
	}
	var err error
	switch {
	case c.Has("running") && s.Running != nil && *s.Running:
		err = systemctl("start")
	case c.Has("running"):
		err = systemctl("stop")
	case c.Has("restart"):
		err = systemctl("restart")
	}
	if err != nil {
		return fmt.Errorf("%w (journalctl -u %s tells why)", err, s.unit())
	}
	if c.Has("running") && s.Running != nil && *s.Running || c.Has("restart") {
		// A service that exits at once still starts "successfully".
		st, err := s.state(ctx)
		if err != nil {
			return err
		}
		if st.ActiveState == "failed" {
			return fmt.Errorf("service %s failed right after it started: journalctl -u %s tells why", s.Name, s.unit())
		}
	}
	return nil
}

// systemctl runs systemctl verb on the service's unit.
func (s *Service) systemctl(ctx context.Context, verb string) error {
	if _, err := resource.Command(ctx, "systemctl", verb, "--", s.unit()); err != nil {
		return fmt.Errorf("service %s: %s: %w", s.Name, verb, err)
	}
	return nil
}

// enable enables or disables the unit as change c's enabled field says.
func (s *Service) enable(ctx context.Context, c *resource.Change) error {
	for _, f := range c.Fields {
		if f.Name != "enabled" {
			continue
		}
		verb := "disable"
		if f.To == "enabled" {
			verb = "enable"
		}
		if err := s.systemctl(ctx, verb); err != nil {
			return err
		}
	}
	return nil
}
