package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"tend/internal/hint"
	"tend/internal/spec"
)

func validateCmd() *command {
	var repo string
	return &command{
		name:    "validate",
		summary: "check the whole repository without contacting hosts",
		help: `validate loads the repository strictly (unknown fields are refused) and
renders every resource and template of every host of every environment, with
placeholders for secret values, and checks that each environment declared
like another differs from it only where the spec allows (as tend parity
does). It prints every problem at once, each with its file:line:column, and
exits 2 when there is any.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&repo, "repo", ".", "the infrastructure repository `DIR`")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			r, st, err := spec.Validate(repo)
			if err != nil {
				return specError(err)
			}
			parityFailed := false
			for _, env := range r.EnvironmentNames() {
				if err := spec.CheckParity(r, env); err != nil {
					s.printError(err)
					parityFailed = true
				}
			}
			problems, notes := checkSecrets(s, r)
			for _, n := range notes {
				s.logf("tend: note: %s", n)
			}
			if len(problems) > 0 {
				return &exitError{code: ExitUsage, err: hint.Wrap(fmt.Errorf("%w:\n%s", errSecrets, strings.Join(problems, "\n")), "docs/secrets.md describes the convention")}
			}
			if parityFailed {
				return &exitError{code: ExitUsage}
			}
			s.printf("ok: %d environments, %d hosts, %d resources\n", st.Environments, st.Hosts, st.Resources)
			return nil
		},
	}
}

// specError maps a failure to load a repository to exit code 2 (an invalid
// spec), with a hint.
func specError(err error) error {
	var l spec.ErrorList
	if errors.As(err, &l) {
		return &exitError{code: ExitUsage, err: hint.Wrap(err, "docs/spec.md describes every file and field")}
	}
	return &exitError{code: ExitUsage, err: hint.Wrap(err, "run tend in the infrastructure repository, or give it with --repo DIR")}
}
