package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/resource"
	"tend/internal/spec"
	"tend/internal/testenv"
)

// These tests run commands on this machine, as root and as nobody.
func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (to run commands as another user)", errors.New("not root"))
	}
}

// converge checks, applies when needed, and checks again; it returns the
// first change.
func converge(t *testing.T, c *Command) *resource.Change {
	t.Helper()
	ctx := context.Background()
	ch, err := c.Check(ctx)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if ch == nil {
		return nil
	}
	if err := c.Apply(ctx, ch); err != nil {
		t.Fatalf("apply: %v", err)
	}
	again, err := c.Check(ctx)
	if err != nil || again != nil {
		t.Fatalf("check after apply: %+v, %v; want nothing to do", again, err)
	}
	return ch
}

func newCommand(t *testing.T, s spec.Command) *Command {
	t.Helper()
	c, err := New("test", &s)
	if err != nil {
		t.Fatal(err)
	}
	c.StateDir = filepath.Join(t.TempDir(), "state")
	return c
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGuards(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	// nobody writes here too.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	t.Run("creates", func(t *testing.T) {
		marker := filepath.Join(dir, "made")
		c := newCommand(t, spec.Command{Run: "echo x >> " + runs + " && touch " + marker, Creates: marker})
		ch := converge(t, c)
		if ch == nil || ch.Action != resource.Run || !ch.Has("creates") {
			t.Fatalf("change %+v, want run because of creates", ch)
		}
		if !strings.Contains(ch.Diff, "$ echo x >> ") {
			t.Errorf("diff does not show the command: %q", ch.Diff)
		}
		if ch := converge(t, c); ch != nil {
			t.Errorf("ran again: %+v", ch)
		}
	})
	t.Run("unless as nobody", func(t *testing.T) {
		out := filepath.Join(dir, "who")
		c := newCommand(t, spec.Command{Run: "id -un > " + out + "; echo \"$HOME\" >> " + out, Unless: "test -s " + out, User: "nobody"})
		ch := converge(t, c)
		if ch == nil || !ch.Has("unless") {
			t.Fatalf("change %+v, want run because unless failed", ch)
		}
		if got := read(t, out); got != "nobody\n/nonexistent\n" {
			t.Errorf("ran as %q", got)
		}
	})
	t.Run("no guard runs once per text", func(t *testing.T) {
		count := filepath.Join(dir, "count")
		c := newCommand(t, spec.Command{Run: "echo a >> " + count})
		ch := converge(t, c)
		if ch == nil || !ch.Has("guard") {
			t.Fatalf("change %+v, want the rule for unguarded commands in it", ch)
		}
		converge(t, c)
		c.Run = "echo b >> " + count
		if ch := converge(t, c); ch == nil {
			t.Error("a changed command did not run")
		}
		if got := read(t, count); got != "a\nb\n" {
			t.Errorf("runs: %q", got)
		}
	})
	t.Run("guard still unsatisfied after the run", func(t *testing.T) {
		c := newCommand(t, spec.Command{Run: "true", Creates: filepath.Join(dir, "never")})
		ctx := context.Background()
		ch, err := c.Check(ctx)
		if err != nil || ch == nil {
			t.Fatalf("check: %+v %v", ch, err)
		}
		err = c.Apply(ctx, ch)
		if err == nil || !strings.Contains(err.Error(), "still does not exist: it would run again on every apply") {
			t.Errorf("apply: %v", err)
		}
	})
	t.Run("failure shows output", func(t *testing.T) {
		c := newCommand(t, spec.Command{Run: "echo broken pipe >&2; exit 3"})
		ctx := context.Background()
		ch, _ := c.Check(ctx)
		err := c.Apply(ctx, ch)
		if err == nil || err.Error() != "command exited 3: broken pipe" {
			t.Errorf("apply: %v", err)
		}
		if ch, _ := c.Check(ctx); ch == nil {
			t.Error("a failed command was recorded as run")
		}
	})
	t.Run("text not in process arguments", func(t *testing.T) {
		out := filepath.Join(dir, "cmdline")
		c := newCommand(t, spec.Command{Run: "tr '\\0' ' ' < /proc/$$/cmdline > " + out + "; env >> " + out + " # canary-4711"})
		converge(t, c)
		got := read(t, out)
		if strings.Contains(got, "canary-4711") || !strings.Contains(got, "/bin/sh -c") {
			t.Errorf("arguments and environment of the shell: %s", got)
		}
	})
}

func TestNew(t *testing.T) {
	for _, s := range []struct {
		name string
		spec spec.Command
	}{
		{"a b", spec.Command{Run: "true"}},
		{"a/b", spec.Command{Run: "true"}},
		{"ok", spec.Command{Run: " "}},
		{"ok", spec.Command{Run: "true", Creates: "relative/path"}},
	} {
		if _, err := New(s.name, &s.spec); err == nil {
			t.Errorf("New(%q, %+v) accepted", s.name, s.spec)
		}
	}
}
