// Package command implements the command resource: a shell command run by
// /bin/sh -c as a user, guarded so that it never runs again once
// satisfied.
//
// The rules:
//   - With creates, the command does not run when that path exists.
//   - With unless, the command does not run when unless (also run by
//     /bin/sh -c as the user) exits 0. Check runs unless: it must be a
//     test that changes nothing.
//   - With both, either one satisfied is enough.
//   - After it ran, a guarded command must have satisfied its guard: if
//     creates still does not exist, or unless still fails, apply fails,
//     because the command would otherwise run on every apply.
//   - A command with neither guard runs once, and again whenever its text
//     or user changes: tend records a hash of them in
//     /var/lib/tend/commands/NAME after a successful run. The plan says so
//     in the change's "guard" field. Remove that file to run it again.
//
// The command's text is shown in the change's diff (which the agent blanks
// for a sensitive resource), never in its fields, and it is passed to the
// shell in the environment, not in the process's arguments, which every
// user of the host can read. Its output is kept only to explain a failure.
package command

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"tend/internal/resource"
	"tend/internal/resource/account"
	"tend/internal/spec"
)

// DefaultStateDir is where the runs of unguarded commands are recorded.
const DefaultStateDir = "/var/lib/tend/commands"

// Command is a guarded shell command.
type Command struct {
	Name     string
	Run      string
	Creates  string
	Unless   string
	User     string
	StateDir string // default DefaultStateDir
}

// New makes a command resource from its spec.
func New(name string, s *spec.Command) (*Command, error) {
	c := &Command{Name: name, Run: s.Run, Creates: s.Creates, Unless: s.Unless, User: s.User, StateDir: DefaultStateDir}
	if c.User == "" {
		c.User = "root"
	}
	switch {
	case name == "" || strings.ContainsAny(name, "/ \t\n") || name == "." || name == "..":
		return nil, fmt.Errorf("invalid name %q: a label without spaces or '/'", name)
	case strings.TrimSpace(c.Run) == "":
		return nil, errors.New("run is required")
	case c.Creates != "" && !filepath.IsAbs(c.Creates):
		return nil, fmt.Errorf("creates %q must be an absolute path", c.Creates)
	case strings.ContainsRune(c.Run+c.Unless, 0):
		return nil, errors.New("run and unless must not contain a NUL byte")
	}
	return c, nil
}

// guarded reports whether the command has a guard.
func (c *Command) guarded() bool { return c.Creates != "" || c.Unless != "" }

// Check implements resource.Resource: nil when a guard is satisfied,
// otherwise a change of action run saying why it would run.
func (c *Command) Check(ctx context.Context) (*resource.Change, error) {
	ch := &resource.Change{Action: resource.Run, Diff: c.describe()}
	if !c.guarded() {
		done, err := c.ranBefore()
		if err != nil {
			return nil, err
		}
		if done {
			return nil, nil
		}
		ch.Add("guard", "", "none: runs once, and again when its text or user changes")
		return ch, nil
	}
	if c.Creates != "" {
		ok, err := exists(c.Creates)
		if err != nil {
			return nil, err
		}
		if ok {
			return nil, nil
		}
		ch.Add("creates", "absent", c.Creates)
	}
	if c.Unless != "" {
		u, db, err := account.LookupUser(c.User)
		if db == nil {
			return nil, err
		}
		if u == nil {
			ch.Add("unless", "not run: user "+c.User+" does not exist yet", "exit 0")
			return ch, nil
		}
		status, _, err := shell(ctx, u, db, c.Unless)
		if err != nil {
			return nil, fmt.Errorf("unless: %w", err)
		}
		if status == 0 {
			return nil, nil
		}
		ch.Add("unless", fmt.Sprintf("exit %d", status), "exit 0")
	}
	return ch, nil
}

// describe shows the command as a diff: the agent blanks diffs of
// sensitive resources, so a secret in the command stays on the host.
func (c *Command) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# as %s:\n", c.User)
	for _, l := range strings.Split(strings.TrimRight(c.Run, "\n"), "\n") {
		b.WriteString("$ " + l + "\n")
	}
	return b.String()
}

// Apply implements resource.Resource: it runs the command, then checks
// that its guard now holds (or records the run of an unguarded command).
func (c *Command) Apply(ctx context.Context, ch *resource.Change) error {
	u, db, err := account.LookupUser(c.User)
	if err != nil {
		return err
	}
	status, out, err := shell(ctx, u, db, c.Run)
	if err != nil {
		return err
	}
	if status != 0 {
		return fmt.Errorf("command exited %d: %s", status, tail(out))
	}
	if !c.guarded() {
		return c.record()
	}
	if c.Creates != "" {
		if ok, err := exists(c.Creates); err != nil || ok {
			return err
		}
	}
	if c.Unless != "" {
		status, _, err := shell(ctx, u, db, c.Unless)
		if err != nil || status == 0 {
			return err
		}
	}
	var what []string
	if c.Creates != "" {
		what = append(what, c.Creates+" still does not exist")
	}
	if c.Unless != "" {
		what = append(what, "unless still fails")
	}
	return fmt.Errorf("the command ran and succeeded, but %s: it would run again on every apply; make the command satisfy its guard, or fix the guard", strings.Join(what, " and "))
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// hash identifies what an unguarded command runs.
func (c *Command) hash() string {
	sum := sha256.Sum256([]byte(c.User + "\x00" + c.Run))
	return hex.EncodeToString(sum[:])
}

func (c *Command) marker() string { return filepath.Join(c.StateDir, c.Name) }

func (c *Command) ranBefore() (bool, error) {
	b, err := os.ReadFile(c.marker())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) == c.hash(), nil
}

func (c *Command) record() error {
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	if err := resource.WriteFile(c.marker(), []byte(c.hash()+"\n"), resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	return nil
}

// script runs the text found in the environment, which it removes first:
// the text never appears in the process's arguments.
const script = `__tend_script=$TEND_SCRIPT; unset TEND_SCRIPT; eval "$__tend_script"`

// shell runs text with /bin/sh -c as user u, from the user's home (or /)
// with a clean environment, and returns its exit status and output. err is
// for a command that could not run at all.
func shell(ctx context.Context, u *account.Passwd, db *account.DB, text string) (int, string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name, "SHELL=/bin/sh",
		"LANG=C.UTF-8", "TEND_SCRIPT=" + text,
	}
	cmd.Dir = "/"
	if fi, err := os.Stat(u.Home); err == nil && fi.IsDir() {
		cmd.Dir = u.Home
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if u.UID != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: db.GIDs(u.Name)}
	}
	// A cancelled run stops the whole process group, not only the shell.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() == nil {
		return exit.ExitCode(), out.String(), nil
	}
	if err != nil {
		return 0, out.String(), fmt.Errorf("run /bin/sh as %s: %w", u.Name, err)
	}
	return 0, out.String(), nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no output)"
	}
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
