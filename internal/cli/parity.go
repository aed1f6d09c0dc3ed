package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"tend/internal/hint"
	"tend/internal/spec"
)

func parityCmd() *command {
	var (
		repo   string
		asJSON bool
	)
	return &command{
		name:    "parity",
		args:    "ENV OTHER",
		summary: "show every difference between two environments",
		help: `parity compares two environments host by host (hosts are paired through
like, else by name): roles, merged variables, descriptive host data, the
names of secrets (never their values), and what is really applied: each
pair of hosts compiled, resource by resource and field by field, and their
handlers. Host names, addresses and SSH settings may differ; so may what the
environments list under may_differ, and what follows from those differences
alone. Each difference names the file:line:column causing it. It exits 1
when any other difference exists.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&repo, "repo", ".", "the infrastructure repository `DIR`")
			fs.BoolVar(&asJSON, "json", false, "print the differences as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "two environments: ENV OTHER"); err != nil {
				return err
			}
			a, b := args[0], args[1]
			r, err := spec.Load(repo)
			if err != nil {
				return specError(err)
			}
			diffs, err := spec.Parity(r, a, b)
			if err != nil {
				var l spec.ErrorList
				if errors.As(err, &l) {
					return specError(err)
				}
				return &usageError{msg: err.Error()}
			}
			bad := 0
			for _, d := range diffs {
				if !d.Allowed {
					bad++
				}
			}
			if asJSON {
				if diffs == nil {
					diffs = []spec.Difference{}
				}
				out := struct {
					A           string            `json:"a"`
					B           string            `json:"b"`
					Same        bool              `json:"same"`
					Differences []spec.Difference `json:"differences"`
				}{a, b, bad == 0, diffs}
				if err := s.printJSON(out); err != nil {
					return err
				}
			} else {
				for _, d := range diffs {
					mark := "allowed    "
					if !d.Allowed {
						mark = "NOT ALLOWED"
					}
					line, at := "", ""
					if d.Line > 0 {
						line = fmt.Sprintf(" line %d", d.Line)
					}
					if d.At != "" {
						at = " at " + d.At
					}
					s.printf("%s  %s%s: %s=%s %s=%s (%s)%s\n", mark, d.Path, line, a, value(d.A), b, value(d.B), d.Reason, at)
				}
				s.printf("%s and %s: %d differences, %d not allowed\n", a, b, len(diffs), bad)
			}
			if bad == 0 {
				return nil
			}
			file := r.Environments[a].File
			if r.Environments[b].Like == a {
				file = r.Environments[b].File
			}
			return &exitError{code: ExitFailure, err: hint.Wrap(
				fmt.Errorf("environments %s and %s differ in %d %s not declared in may_differ", a, b, bad, map[bool]string{true: "way", false: "ways"}[bad == 1]),
				"make them alike, or list the paths that may differ under may_differ in "+file)}
		},
	}
}

func value(v *string) string {
	if v == nil {
		return "(absent)"
	}
	return fmt.Sprintf("%q", *v)
}
