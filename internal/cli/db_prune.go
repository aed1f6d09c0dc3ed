package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"tend/internal/hint"

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

Prune runs where it is launched (CI, the controller, the storage host) and
talks to the store directly; the database host is not asked and never
receives the credentials. Deleting needs store credentials allowed to
delete, which hosts should not have: set AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY in the environment of the machine running tend db
prune (a CI secret); without them the spec's credentials, decrypted from the
environment's secrets, are used.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&yes, "yes", false, "delete what the retention does not keep")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			d, err := findBackup(s, args[0], f)
			if err != nil {
				return err
			}
			within, err := spec.ParseDays(d.spec.KeepWithin)
			if err != nil {
				return err
			}
			keep := pitr.Keep{Count: d.spec.KeepCount, Within: within}
			getenv, err := pruneCredentials(s, d, f.repo)
			if err != nil {
				return err
			}
			r, err := pitr.PruneHere(ctx, d.cfg, getenv, keep, yes, pruneNow())
			if err != nil {
				return hint.Wrap(fmt.Errorf("prune of %s/%s, from here: %w", d.host.Name, d.cfg.Cluster, err),
					"prune talks to the store from where it runs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to credentials that may list and delete in the store")
			}
			if err := f.show(s, r, func() {
				printPrune(s, keep, r.Plan, yes)
				for _, l := range r.KeptByLock.Lines() {
					s.printf("%s\n", l)
				}
			}); err != nil {
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

// pruneNow is the time retention is judged at; tests move it forward
// instead of waiting.
var pruneNow = time.Now
