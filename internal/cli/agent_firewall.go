package cli

import (
	"context"

	"tend/internal/agent"
)

func agentFirewallConfirmCmd() *command {
	return &command{
		name:    "firewall-confirm",
		summary: "disarm the revert of the firewall just applied and persist it (over a new SSH connection)",
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, ""); err != nil {
				return err
			}
			return agent.ConfirmFirewall(ctx)
		},
	}
}
