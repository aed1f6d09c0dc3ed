// Package timer implements the timer resource: a scheduled job run by
// systemd, as a pair of units in /etc/systemd/system: NAME.service
// (Type=oneshot, the command run by /bin/sh -c as the user) and NAME.timer
// (OnCalendar, Persistent=true, so a run missed while the host was down
// happens at boot). The timer is enabled and started; systemd is reloaded
// only when a unit file changed. Removal stops it and deletes both units.
package timer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"tend/internal/resource"
	"tend/internal/resource/account"
	"tend/internal/spec"
)

// UnitDir is where the units are written.
const UnitDir = "/etc/systemd/system"

// Timer is a scheduled job.
type Timer struct {
	Name       string
	OnCalendar string
	Command    string
	User       string
	// RandomDelay, a systemd time span ("12h"), spreads runs over that
	// long after each elapse (RandomizedDelaySec), so that many hosts do
	// not call one server at the same second. Empty: none.
	RandomDelay string
}

// New makes a timer resource from its spec.
func New(name string, s *spec.Timer) (*Timer, error) {
	t := &Timer{Name: name, OnCalendar: strings.TrimSpace(s.OnCalendar), Command: s.Command, User: s.User}
	if t.User == "" {
		t.User = "root"
	}
	switch {
	case name == "" || strings.ContainsAny(name, "/ \n"):
		return nil, fmt.Errorf("invalid unit name %q", name)
	case t.OnCalendar == "" || strings.ContainsAny(t.OnCalendar, "\n\r"):
		return nil, fmt.Errorf("on_calendar %q must be one systemd calendar expression, such as daily or *-*-* 03:00", s.OnCalendar)
	case strings.TrimSpace(t.Command) == "":
		return nil, errors.New("command is required")
	case strings.ContainsRune(t.Command, 0):
		return nil, errors.New("command contains a NUL byte")
	}
	return t, nil
}

// ServiceUnit returns the content of NAME.service.
func (t *Timer) ServiceUnit() string {
	return "# Managed by tend: changes here are overwritten.\n" +
		"[Unit]\n" +
		"Description=tend job " + t.Name + "\n" +
		"\n[Service]\n" +
		"Type=oneshot\n" +
		"User=" + t.User + "\n" +
		"ExecStart=/bin/sh -c " + Quote(t.Command) + "\n"
}

// TimerUnit returns the content of NAME.timer.
func (t *Timer) TimerUnit() string {
	delay := ""
	if t.RandomDelay != "" {
		delay = "RandomizedDelaySec=" + t.RandomDelay + "\n"
	}
	return "# Managed by tend: changes here are overwritten.\n" +
		"[Unit]\n" +
		"Description=tend schedule of " + t.Name + "\n" +
		"\n[Timer]\n" +
		"OnCalendar=" + t.OnCalendar + "\n" +
		delay +
		"Persistent=true\n" +
		"\n[Install]\n" +
		"WantedBy=timers.target\n"
}

// Quote quotes s as one argument of a systemd command line: in double
// quotes, with C escapes for quotes, backslashes and control characters,
// and "$" and "%" doubled so that systemd expands neither variables nor
// specifiers: the shell receives exactly s.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '$':
			b.WriteString("$$")
		case '%':
			b.WriteString("%%")
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

type unit struct {
	path, want string
}

func (t *Timer) units() []unit {
	return []unit{
		{filepath.Join(UnitDir, t.Name+".service"), t.ServiceUnit()},
		{filepath.Join(UnitDir, t.Name+".timer"), t.TimerUnit()},
	}
}

var unitMeta = resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}

// Check implements resource.Resource. It validates the calendar expression
// with systemd-analyze, which changes nothing.
func (t *Timer) Check(ctx context.Context) (*resource.Change, error) {
	if _, err := resource.Command(ctx, "systemd-analyze", "calendar", t.OnCalendar); err != nil {
		return nil, fmt.Errorf("on_calendar %q is not a calendar expression systemd accepts (see man systemd.time): %w", t.OnCalendar, err)
	}
	c := &resource.Change{Action: resource.Update}
	created := false
	var diffs []string
	for _, u := range t.units() {
		fi, have, err := resource.Stat(u.path)
		name := filepath.Base(u.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			created = true
			c.Add(name, "", fmt.Sprintf("%d bytes", len(u.want)))
			diffs = append(diffs, resource.Diff(u.path, "", u.want))
			continue
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a regular file: declare `absent: %s` first to replace it", u.path, u.path)
		}
		old, err := os.ReadFile(u.path)
		if err != nil {
			return nil, err
		}
		if string(old) != u.want {
			c.Fields = append(c.Fields, resource.Field{Name: name, From: "changed", To: "changed"})
			diffs = append(diffs, resource.Diff(u.path, string(old), u.want))
		}
		resource.CheckMeta(c, have, unitMeta)
		for i := range c.Fields {
			if f := &c.Fields[i]; f.Name == "mode" || f.Name == "owner" || f.Name == "group" {
				f.Name = name + " " + f.Name
			}
		}
	}
	c.Diff = strings.Join(diffs, "")
	if created {
		c.Action = resource.Create
	}
	enabled, active := t.state(ctx)
	c.Add("enabled", fmt.Sprint(enabled), "true")
	c.Add("active", fmt.Sprint(active), "true")
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// state asks systemd whether the timer is enabled and active. A unit
// systemd does not know is neither.
func (t *Timer) state(ctx context.Context) (enabled, active bool) {
	ask := func(verb string) string {
		out, _ := exec.CommandContext(ctx, "systemctl", verb, t.Name+".timer").Output()
		return string(bytes.TrimSpace(out))
	}
	return ask("is-enabled") == "enabled", ask("is-active") == "active"
}

// Apply implements resource.Resource.
func (t *Timer) Apply(ctx context.Context, c *resource.Change) error {
	if _, _, err := account.LookupUser(t.User); err != nil {
		return fmt.Errorf("timer %s runs as %s: %w", t.Name, t.User, err)
	}
	changed := false
	timerChanged := false
	for _, u := range t.units() {
		old, err := os.ReadFile(u.path)
		if err == nil && string(old) == u.want {
			if err := resource.SetMeta(u.path, unitMeta); err != nil {
				return err
			}
			continue
		}
		if err := resource.WriteFile(u.path, []byte(u.want), unitMeta); err != nil {
			return fmt.Errorf("write %s: %w", u.path, err)
		}
		changed = true
		timerChanged = timerChanged || strings.HasSuffix(u.path, ".timer")
	}
	if changed {
		if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	}
	enabled, active := t.state(ctx)
	if !enabled {
		if _, err := resource.Command(ctx, "systemctl", "enable", t.Name+".timer"); err != nil {
			return err
		}
	}
	if !active || timerChanged {
		// restart starts a stopped timer, and makes a running one
		// compute its next elapse from the new schedule.
		if _, err := resource.Command(ctx, "systemctl", "restart", t.Name+".timer"); err != nil {
			return err
		}
	}
	return nil
}
