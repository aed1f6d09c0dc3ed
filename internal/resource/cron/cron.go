// Package cron implements the cron resource: a job in its own file
// /etc/cron.d/NAME (mode 0644, root), run by /bin/sh as a user.
//
// The schedule is validated here, as cron would read it, because cron
// itself only logs a bad line and never runs it. A "%" in the command is
// escaped: cron would otherwise turn it into a newline and feed the rest
// to the command's standard input, which no one writing `date +%F` wants.
package cron

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"tend/internal/resource"
	"tend/internal/resource/account"
	"tend/internal/spec"
)

// Dir is where the job files are written.
const Dir = "/etc/cron.d"

// Job is a cron job.
type Job struct {
	Name     string
	Schedule string // normalised: fields separated by one space
	Command  string
	User     string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// New makes a cron resource from its spec, validating the schedule.
func New(name string, s *spec.Cron) (*Job, error) {
	j := &Job{Name: name, Schedule: strings.Join(strings.Fields(s.Schedule), " "), Command: strings.TrimSpace(s.Command), User: s.User}
	if j.User == "" {
		j.User = "root"
	}
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid name %q: letters, digits, '-' and '_' only (cron ignores other file names in %s)", name, Dir)
	}
	if err := ValidateSchedule(j.Schedule); err != nil {
		return nil, err
	}
	switch {
	case j.Command == "":
		return nil, errors.New("command is required")
	case strings.ContainsAny(j.Command, "\n\r\x00"):
		return nil, errors.New("command must be one line: cron reads one job per line (put longer scripts in a file and run that)")
	case strings.ContainsAny(j.User, " \t\n:"):
		return nil, fmt.Errorf("invalid user %q", j.User)
	}
	return j, nil
}

var specials = []string{"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

type fieldSpec struct {
	name     string
	min, max int
	names    []string // names for min, min+1, ...
}

var fields = []fieldSpec{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// ValidateSchedule checks a schedule as Debian's cron reads it: five
// fields (minute hour day-of-month month day-of-week), each a list of
// "*", numbers or ranges with an optional "/step", or a name (jan, mon...)
// alone; or one of @reboot, @hourly, @daily, @weekly, @monthly, @yearly.
func ValidateSchedule(s string) error {
	f := strings.Fields(s)
	if len(f) == 1 && strings.HasPrefix(f[0], "@") {
		if !slices.Contains(specials, f[0]) {
			return fmt.Errorf("schedule %q: unknown keyword, want one of %s", s, strings.Join(specials, ", "))
		}
		return nil
	}
	if len(f) != 5 {
		return fmt.Errorf("schedule %q needs five fields (minute hour day month weekday) or @hourly/@daily/..., has %d", s, len(f))
	}
	for i, fs := range fields {
		if err := fs.check(f[i]); err != nil {
			return fmt.Errorf("schedule %q: %s %w", s, fs.name, err)
		}
	}
	return nil
}

func (fs fieldSpec) check(v string) error {
	for _, item := range strings.Split(v, ",") {
		if err := fs.item(item); err != nil {
			return err
		}
	}
	return nil
}

func (fs fieldSpec) item(item string) error {
	if i := slices.Index(fs.names, strings.ToLower(item)); i >= 0 {
		return nil
	}
	rng, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 || n > fs.max {
			return fmt.Errorf("%q: step %q must be a number from 1 to %d", item, step, fs.max)
		}
	}
	if rng == "*" {
		return nil
	}
	lo, hi, isRange := strings.Cut(rng, "-")
	if !isRange && hasStep {
		return fmt.Errorf("%q: a step needs * or a range before it", item)
	}
	a, err := fs.number(lo, item)
	if err != nil {
		return err
	}
	if isRange {
		b, err := fs.number(hi, item)
		if err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("%q: range %d-%d goes backwards", item, a, b)
		}
	}
	return nil
}

func (fs fieldSpec) number(s, item string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < fs.min || n > fs.max {
		what := fmt.Sprintf("a number from %d to %d", fs.min, fs.max)
		if fs.names != nil {
			what += " or a name (" + fs.names[0] + ", " + fs.names[1] + "...) alone"
		}
		return 0, fmt.Errorf("%q is not %s", item, what)
	}
	return n, nil
}

// Content returns the file's content.
func (j *Job) Content() string {
	return "# Managed by tend: changes here are overwritten.\n" +
		"SHELL=/bin/sh\n" +
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
		j.Schedule + " " + j.User + " " + EscapeCommand(j.Command) + "\n"
}

// EscapeCommand escapes "%", which cron turns into a newline.
func EscapeCommand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '%':
			// Already escaped: keep it, so that the user's "\%" stays a "%".
			b.WriteString(`\%`)
			i++
		case s[i] == '%':
			b.WriteString(`\%`)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (j *Job) path() string { return filepath.Join(Dir, j.Name) }

var fileMeta = resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}

// Check implements resource.Resource.
func (j *Job) Check(ctx context.Context) (*resource.Change, error) {
	want := j.Content()
	fi, have, err := resource.Stat(j.path())
	if errors.Is(err, fs.ErrNotExist) {
		c := &resource.Change{Action: resource.Create, Diff: resource.Diff(j.path(), "", want)}
		c.Add("schedule", "", j.Schedule)
		c.Add("user", "", j.User)
		c.Add("command", "", j.Command)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: declare `absent: %s` first to replace it", j.path(), j.path())
	}
	old, err := os.ReadFile(j.path())
	if err != nil {
		return nil, err
	}
	c := &resource.Change{Action: resource.Update}
	if string(old) != want {
		c.Diff = resource.Diff(j.path(), string(old), want)
		c.Fields = append(c.Fields, resource.Field{Name: "content", From: fmt.Sprintf("%d bytes", len(old)), To: fmt.Sprintf("%d bytes", len(want))})
	}
	resource.CheckMeta(c, have, fileMeta)
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (j *Job) Apply(ctx context.Context, c *resource.Change) error {
	if _, _, err := account.LookupUser(j.User); err != nil {
		return fmt.Errorf("cron job %s runs as %s: %w", j.Name, j.User, err)
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	return resource.WriteFile(j.path(), []byte(j.Content()), fileMeta)
}
