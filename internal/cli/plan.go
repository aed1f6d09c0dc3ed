package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"tend/internal/plan"
	"tend/internal/wire"
)

// runFlags are the flags plan and apply share.
type runFlags struct {
	repo, lab, limit, identity string
	only, skip                 string
	parallel, serial           int
	asJSON                     bool
	saved                      *plan.Saved // apply --plan: execute this plan (not a flag)
}

func (f *runFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.repo, "repo", ".", "the infrastructure repository `DIR`")
	fs.StringVar(&f.lab, "lab", "", "run against the lab `NAME` (booted with tend lab up --from DIR --env ENV) instead of the real hosts")
	fs.StringVar(&f.limit, "limit", "", "only these `hosts or roles` (comma-separated)")
	fs.StringVar(&f.identity, "identity", "", "SSH private key `file` (default: $TEND_SSH_KEY, then the ssh-agent)")
	fs.IntVar(&f.parallel, "parallel", 10, "hosts converged at once")
	fs.StringVar(&f.only, "only", "", "only the resources with these `tags` or of these roles (comma-separated); such a run removes nothing")
	fs.StringVar(&f.skip, "skip", "", "leave out the resources with these `tags` or of these roles (comma-separated); such a run removes nothing")
	fs.IntVar(&f.serial, "serial", 0, "converge `N` hosts at a time, in order, and stop after the first batch in which a host failed (a rolling apply)")
	fs.BoolVar(&f.asJSON, "json", false, "print the events as they come and a summary as JSON Lines, one object a line")
}

func planCmd() *command {
	var f runFlags
	var out string
	return &command{
		name:    "plan",
		args:    "ENV",
		summary: "show what apply would change on each host, changing nothing",
		help: `Connects to each host of ENV over SSH, compares it with the repository and
prints per host and resource what would change: + create, ~ update, - delete,
a unified diff for file contents, "(sensitive value changed)" for secrets.

Exit codes: 0 nothing to change, 3 changes pending (for drift checks in CI),
1 a host failed, 2 invalid spec. --out saves the plan for apply --plan.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&out, "out", "", "save the plan to `FILE`, for tend apply --plan FILE")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			rs, d, err := converge(ctx, s, args[0], f, wire.Plan)
			if err != nil {
				return err
			}
			if out != "" {
				saved := plan.NewSaved(args[0], rs)
				saved.DNS = d.plansOrNone()
				if err := saved.Write(out); err != nil {
					return err
				}
			}
			if err := report(s, args[0], rs, d, wire.Plan, f.asJSON); err != nil {
				return err
			}
			if sum := plan.Summarize(rs); sum.Changed+sum.Removed+d.changes() > 0 {
				return &exitError{code: ExitChanges}
			}
			return nil
		},
	}
}

func applyCmd() *command {
	var f runFlags
	var saved string
	return &command{
		name:    "apply",
		args:    "ENV",
		summary: "converge every host of ENV to the repository",
		help: `Converges each host in one SSH session: tend uploads itself as the agent
(once per version), sends the host's desired state, and the agent converges
it in order, firing handlers once at the end. One host failing does not stop
the others; the exit code is 1 when any failed.

With --plan FILE, apply executes the plan saved by tend plan --out: on the
plan's hosts, each agent makes the changes the plan lists and no other. A
host or repository that changed since is refused at the first change the
plan did not show (the plan is stale), without planning again.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&saved, "plan", "", "apply the plan saved in `FILE` by tend plan --out, and nothing else")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			if saved != "" {
				p, err := plan.ReadSaved(saved, args[0])
				if err != nil {
					return err
				}
				f.saved = p
			}
			rs, d, err := converge(ctx, s, args[0], f, wire.Apply)
			if err != nil {
				return err
			}
			return report(s, args[0], rs, d, wire.Apply, f.asJSON)
		},
	}
}

// converge prepares every host of env and runs the agent on them in
// mode. DNS is the controller's: every zone is read before any host is
// reached (a zone down stops the run before it changes anything), and
// apply changes the records after the hosts, when none failed, so that a
// new name points at a site already served.
func converge(ctx context.Context, s *session, env string, f runFlags, mode wire.Mode) ([]plan.Result, *dnsRun, error) {
	targets, d, err := prepare(ctx, s, env, f)
	if err != nil {
		return nil, nil, err
	}
	bin, err := agentBinary(s)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range d.Notes {
		s.logf("tend: %s", n)
	}
	plans, err := plan.PlanDNS(ctx, d)
	if err != nil {
		return nil, nil, dnsCheckFailed(err)
	}
	if f.saved != nil && !d.LeftOut {
		if err := f.saved.CheckDNS(plans); err != nil {
			return nil, nil, err
		}
	}
	dr := &dnsRun{plans: plans}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	p := newProgress(s, mode, names, f.asJSON)
	rs := plan.Run(ctx, targets, plan.Options{Mode: mode, Agent: bin, Parallel: f.parallel, Serial: f.serial, Progress: p.event})
	p.finish(rs)
	if mode == wire.Apply && dr.changes() > 0 {
		if failed := plan.Summarize(rs).Failed; failed > 0 {
			dr.skipped = fmt.Sprintf("%d host(s) failed; the records may point at what they serve", failed)
		} else {
			dr.err = plan.ApplyDNS(ctx, d, plans)
			dr.applied = dr.err == nil
		}
	}
	return rs, dr, nil
}

// agentBinary is the tend binary to upload: $TEND_AGENT_BINARY, else this one.
func agentBinary(s *session) (*plan.Binary, error) {
	if p := s.getenv("TEND_AGENT_BINARY"); p != "" {
		return plan.LoadBinary(p, runtime.GOARCH)
	}
	return plan.Self()
}
