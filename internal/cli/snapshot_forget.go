package cli

import (
	"context"
	"flag"
	"strings"

	"tend/internal/retention"
)

func snapForgetCmd() *command {
	var (
		o      snapOpts
		p      retention.Policy
		dryRun bool
	)
	return &command{
		name:    "forget",
		args:    "[SNAPSHOT...]",
		summary: "forget snapshots by ID or by a keep policy (data goes at the next prune)",
		help: `With SNAPSHOTs, forgets them. With --keep-* flags, groups snapshots by host
and paths, keeps what the policy keeps and forgets the rest; --dry-run shows
each decision and its reason without changing anything. Forgetting deletes
snapshot objects, so it needs store credentials that may delete.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.IntVar(&p.Last, "keep-last", 0, "keep the `N` newest snapshots")
			fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last `N` hours")
			fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last `N` days")
			fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last `N` weeks")
			fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last `N` months")
			fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last `N` years")
			fs.Var((*durationFlag)(&p.Within), "keep-within", "keep every snapshot less than `DURATION` (2d, 36h, 1y2m) older than the newest")
			fs.BoolVar(&dryRun, "dry-run", false, "show the decisions, change nothing")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 && !p.Empty() {
				return &usageError{msg: "give either SNAPSHOT IDs or --keep-* flags, not both"}
			}
			if len(args) == 0 && p.Empty() {
				return &usageError{msg: "expected SNAPSHOT IDs or a policy (--keep-last, --keep-daily, ...)"}
			}
			if err := p.Validate(); err != nil {
				return &usageError{msg: err.Error()}
			}
			r, err := o.open(ctx, s, false, false)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				ids, err := r.ForgetRefs(ctx, args, true) // resolves every ref first: all or nothing
				if err != nil {
					return err
				}
				if dryRun {
					for _, id := range ids {
						s.printf("would forget %s\n", id.Short())
					}
					return nil
				}
				locked, err := r.ForgetSnapshots(ctx, ids)
				if err != nil {
					return err
				}
				for _, id := range locked {
					s.printf("kept %s: the store's object lock still retains it; forget it again later\n", id.Short())
				}
				s.printf("forgot %d snapshot(s); run 'tend snapshot prune' to free their data\n", len(ids)-len(locked))
				return nil
			}
			groups, err := r.ForgetPolicy(ctx, p, dryRun)
			if err != nil {
				return err
			}
			forgot, locked := 0, 0
			for _, g := range groups {
				s.printf("host %s, paths %s (policy: %s):\n", g.Host, strings.Join(g.Paths, ","), p)
				for _, d := range g.Decisions {
					t := localTime(d.Snapshot.Time)
					switch {
					case d.Keep:
						s.printf("  keep    %s  %s  %s\n", d.Snapshot.ID.Short(), t, strings.Join(d.Reasons, ", "))
					case d.Locked:
						locked++
						s.printf("  forget  %s  %s  (kept by the store's object lock; a later forget deletes it)\n", d.Snapshot.ID.Short(), t)
					default:
						forgot++
						s.printf("  forget  %s  %s\n", d.Snapshot.ID.Short(), t)
					}
				}
			}
			if dryRun {
				s.printf("dry run: would forget %d snapshot(s)\n", forgot)
			} else {
				s.printf("forgot %d snapshot(s); run 'tend snapshot prune' to free their data\n", forgot)
				if locked > 0 {
					s.printf("%d snapshot(s) kept by the store's object lock; a later forget deletes them\n", locked)
				}
			}
			return nil
		},
	}
}
