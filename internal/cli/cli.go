// Package cli implements tend's command line: the command tree, flag parsing,
// human and JSON output, and the one mapping from errors to exit codes. It is
// the only package that prints or decides how the process exits.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"tend/internal/hint"
)

// Exit codes. They are part of tend's interface and documented in docs/cli.md.
const (
	ExitOK      = 0 // success, or a plan with no changes
	ExitFailure = 1 // something failed; the message says what and where
	ExitUsage   = 2 // bad command line or an invalid spec
	ExitChanges = 3 // plan: changes are pending (for drift checks in CI)
)

// session is what a command runs with: its streams and environment.
type session struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// printf writes a line of human output on stdout.
func (s *session) printf(format string, a ...any) { fmt.Fprintf(s.stdout, format, a...) }

// logf writes a progress line on stderr, so stdout keeps only what was asked for.
func (s *session) logf(format string, a ...any) {
	fmt.Fprintf(s.stderr, format, a...)
	if !strings.HasSuffix(format, "\n") {
		fmt.Fprintln(s.stderr)
	}
}

// command is one node of the command tree: a group (subs) or a leaf (run).
type command struct {
	name    string
	args    string // synopsis of positional arguments, e.g. "HOST [CMD...]"
	summary string // one line, shown in the parent's listing
	help    string // paragraphs shown by --help
	// flags binds the command's flags; nil for none.
	flags func(fs *flag.FlagSet)
	// noIntersperse stops flag parsing at the first positional argument
	// (for commands that pass the rest on, like `lab ssh HOST CMD...`).
	noIntersperse bool
	run           func(ctx context.Context, s *session, args []string) error
	subs          []*command
}

// usageError is a mistake on the command line; it exits with ExitUsage.
type usageError struct {
	cmd string // the full command path, for the hint
	msg string
}

func (e *usageError) Error() string { return e.msg }

// exitError carries an explicit exit code with an optional message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// root builds the command tree. Commands are listed here explicitly: no
// init() registration, so the whole CLI can be read from this one function.
func root() *command {
	return &command{
		name:    "tend",
		summary: "turn one git repository into your organisation's whole infrastructure",
		help: `tend declares hosts, environments, roles, services, web routes, firewall
rules, tunnels, DNS records, secrets and backups in one repository, shows
what would change, and converges every host over SSH.`,
		subs: []*command{
			labCmd(),
			planCmd(),
			applyCmd(),
			runCmd(),
			roleCmd(),
			importCmd(),
			hostCmd(),
			validateCmd(),
			parityCmd(),
			docsCmd(),
			secretCmd(),
			statusCmd(),
			tunnelCmd(),
			dbCmd(),
			snapshotCmd(),
			storeCmd(),
			replicaCmd(),
			envdirCmd(),
			agentCmd(),
			versionCmd(),
		},
	}
}

// Main runs tend with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &session{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return s.exit(dispatch(ctx, s, root(), nil, args))
}

// exit prints err the one way tend prints errors and maps it to an exit code.
func (s *session) exit(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			s.printError(ee.err)
		}
		return ee.code
	}
	s.printError(err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(s.stderr, "tend: hint: run '%s --help' for usage\n", ue.cmd)
		return ExitUsage
	}
	return ExitFailure
}

func (s *session) printError(err error) {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(s.stderr, "tend: error: %s\n", line)
	}
	if h := hint.Of(err); h != "" {
		for _, line := range strings.Split(h, "\n") {
			fmt.Fprintf(s.stderr, "tend: hint: %s\n", line)
		}
	}
}

func dispatch(ctx context.Context, s *session, c *command, path []string, args []string) error {
	path = append(path, c.name)
	full := strings.Join(path, " ")
	if len(c.subs) > 0 {
		if len(args) == 0 {
			usage(s.stderr, c, full)
			return &usageError{cmd: full, msg: "missing command"}
		}
		switch args[0] {
		case "-h", "-help", "--help", "help":
			usage(s.stdout, c, full)
			return nil
		}
		for _, sub := range c.subs {
			if sub.name == args[0] {
				return dispatch(ctx, s, sub, path, args[1:])
			}
		}
		return &usageError{cmd: full, msg: fmt.Sprintf("unknown command %q for %q", args[0], full)}
	}
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseFlags(fs, args, !c.noIntersperse)
	if errors.Is(err, flag.ErrHelp) {
		usage(s.stdout, c, full)
		return nil
	}
	if err != nil {
		return &usageError{cmd: full, msg: err.Error()}
	}
	err = c.run(ctx, s, pos)
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" {
		ue.cmd = full
	}
	return err
}

// parseFlags parses flags anywhere among the arguments (unless intersperse is
// false) and returns the positional ones. "--" ends flag parsing.
func parseFlags(fs *flag.FlagSet, args []string, intersperse bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" (consumed) or at the first non-flag.
		consumedDashes := len(args) > len(rest) && args[len(args)-len(rest)-1] == "--"
		if !intersperse || consumedDashes {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usage prints a command's help: synopsis, description, subcommands, flags.
func usage(w io.Writer, c *command, full string) {
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s <command> [flags]\n", full, c.summary, full)
	} else {
		synopsis := full
		if c.flags != nil {
			synopsis += " [flags]"
		}
		if c.args != "" {
			synopsis += " " + c.args
		}
		fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s\n", full, c.summary, synopsis)
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		width := 0
		for _, sub := range c.subs {
			width = max(width, len(sub.name))
		}
		for _, sub := range c.subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, sub.name, sub.summary)
		}
		fmt.Fprintf(w, "\nRun '%s <command> --help' for details.\n", full)
		return
	}
	if c.flags != nil {
		fs := flag.NewFlagSet(full, flag.ContinueOnError)
		c.flags(fs)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		fmt.Fprintf(w, "\nFlags:\n")
		for _, n := range names {
			f := fs.Lookup(n)
			arg, text := flag.UnquoteUsage(f)
			left := "--" + n
			if arg != "" {
				left += " " + arg
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %-22s %s%s\n", left, text, def)
		}
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, min, max int, what string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return &usageError{msg: "expected " + what}
	}
	return nil
}
