package cli

import (
	"context"

	"tend/internal/agent"
)

func agentCmd() *command {
	return &command{
		name:    "agent",
		args:    "plan|apply",
		summary: "run on a host by tend itself: converge from a desired state on stdin",
		help: `tend uploads itself to each host and runs "tend agent apply" there over SSH,
with the host's desired state on standard input; it writes JSON events on
standard output. People do not run it; it is documented in docs/agent.md.`,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "plan or apply"); err != nil {
				return err
			}
			mode := agent.Mode(args[0])
			if mode != agent.Plan && mode != agent.Apply {
				return &usageError{msg: "expected plan or apply, not " + args[0]}
			}
			if err := agent.Run(ctx, mode, s.stdin, s.stdout, agent.Options{StateDir: s.getenv("TEND_AGENT_STATE")}); err != nil {
				return &exitError{code: ExitFailure} // the events said what failed
			}
			return nil
		},
	}
}
