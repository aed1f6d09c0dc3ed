package cli

import (
	"context"
	"flag"

	"tend/internal/pitr"
	"tend/internal/spec"
)

func dbPruneCmd() *command {
	var f dbFlags
	var yes bool
	return &command{
		name: "prune", args: "ENV", summary: "apply the retention: show what would be deleted, delete with --yes",
		help: `Keeps the keep_count newest base backups, every backup within keep_within,
and the newest one before that (so every time in the window stays
restorable); deletes the other backups and the WAL older than the oldest
kept backup. Timeline history files are never deleted. Without --yes it
only shows the decision and exits 3 when something would be deleted.

Deleting needs store credentials allowed to delete, which hosts should not
have: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of
the machine running tend db prune (a CI secret); without them the host's
own credentials are used.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&yes, "yes", false, "delete what the retention does not keep")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			var keep pitr.Keep
			_, r, err := dbCall[pitr.PruneResult](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				within, err := spec.ParseDays(d.spec.KeepWithin)
				if err != nil {
					return nil, err
				}
				keep = pitr.Keep{Count: d.spec.KeepCount, Within: within}
				req := &pitr.Request{Op: "prune", Config: d.cfg, Keep: keep, Apply: yes}
				if k := s.getenv("AWS_ACCESS_KEY_ID"); k != "" {
					req.Env = map[string]string{"AWS_ACCESS_KEY_ID": k, "AWS_SECRET_ACCESS_KEY": s.getenv("AWS_SECRET_ACCESS_KEY")}
				}
				return req, nil
			})
			if err != nil {
				return err
			}
			if err := f.show(s, r, func() { printPrune(s, keep, r.Plan, yes) }); err != nil {
				return err
			}
			if p := r.Plan; !yes && len(p.Delete)+len(p.Incomplete)+len(p.DeleteWAL) > 0 {
				if !f.asJSON {
					s.printf("run again with --yes to delete\n")
				}
				return &exitError{code: ExitChanges}
			}
			return nil
		},
	}
}

func printPrune(s *session, keep pitr.Keep, p *pitr.PrunePlan, yes bool) {
	s.printf("retention: %s\n", keep)
	for _, b := range p.Keep {
		s.printf("  keep    %s  (ended %s): %s\n", b.ID, ts(b.StopTime), p.Reasons[b.ID])
	}
	verb := "delete"
	if !yes {
		verb = "would delete"
	}
	for _, b := range p.Delete {
		s.printf("  %s %s  (ended %s)\n", verb, b.ID, ts(b.StopTime))
	}
	for _, i := range p.Incomplete {
		s.printf("  %s incomplete backup %s\n", verb, i.ID)
	}
	if n := len(p.DeleteWAL); n > 0 {
		s.printf("  %s %d WAL files, %s to %s\n", verb, n, p.DeleteWAL[0].Name, p.DeleteWAL[n-1].Name)
	}
	if len(p.Delete)+len(p.Incomplete)+len(p.DeleteWAL) == 0 {
		s.printf("nothing to delete\n")
	}
}
