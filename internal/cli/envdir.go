package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"tend/internal/envdir"
	"tend/internal/hint"
)

// ExitEnvdir is the exit code of `tend envdir` when it cannot read the
// directory or start the command. It is above 125 on purpose: PostgreSQL
// takes a restore_command exit code from 1 to 125 as "this WAL segment does
// not exist" and would end recovery early; above 125 it aborts instead.
// (daemontools' envdir exits 111, which PostgreSQL would misread.)
const ExitEnvdir = 126

func envdirCmd() *command {
	return &command{
		name:    "envdir",
		args:    "DIR CMD [ARGS...]",
		summary: "run a command with environment variables from a directory",
		help: `Runs CMD with the environment changed by the files in DIR, with the
semantics of daemontools' envdir: each file names a variable; its first
line, without trailing spaces and tabs and with NUL bytes turned into
newlines, is the value; an empty file removes the variable. Files whose
names start with "." are ignored; a name containing "=" is an error.

CMD is looked up in PATH and replaces tend (exec), so its exit code is the
command's own. If DIR cannot be read or CMD cannot be started, tend exits
126, which PostgreSQL's restore_command treats as a failure rather than as
a missing segment.`,
		noIntersperse: true,
		run:           runEnvdir,
	}
}

func runEnvdir(ctx context.Context, s *session, args []string) error {
	if len(args) < 2 {
		return &exitError{code: ExitEnvdir, err: hint.New("envdir: expected DIR CMD [ARGS...]",
			"run 'tend envdir --help' for usage")}
	}
	changes, err := envdir.Read(args[0])
	if err != nil {
		return &exitError{code: ExitEnvdir, err: err}
	}
	path, err := exec.LookPath(args[1])
	if err != nil {
		return &exitError{code: ExitEnvdir, err: fmt.Errorf("envdir: command %q: %w", args[1], unwrapExec(err))}
	}
	env := envdir.Apply(os.Environ(), changes)
	err = syscall.Exec(path, args[1:], env)
	// Exec returns only on failure.
	return &exitError{code: ExitEnvdir, err: fmt.Errorf("envdir: run %s: %w", path, err)}
}

// unwrapExec drops exec.Error's repetition of the command name.
func unwrapExec(err error) error {
	if ee, ok := err.(*exec.Error); ok {
		return ee.Err
	}
	return err
}
