package cli

import (
	"context"
	"flag"
	"time"

	"tend/internal/pitr"
)

func dbRestoreCmd() *command {
	var f dbFlags
	var to string
	return &command{
		name: "restore", args: "ENV --to TIME|latest", summary: "restore the cluster to a point in time, here or onto another host",
		help: `Picks the base backup itself, restores it, replays the archived WAL up
to TIME (RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" in local time) or to the end
of the archive (latest), checks where recovery stopped, and promotes.

Without --onto the database host itself is restored: PostgreSQL is stopped
and its data directory is kept aside (its path is printed), never deleted.
With --onto HOST (or ENV/HOST) that host's cluster is replaced instead and
the database host is not touched.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&to, "to", "", "the point in time: `TIME` or latest (required)")
			f.bindOnto(fs, "restore onto this `host` (HOST or ENV/HOST) instead of the database host")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if to == "" {
				return &usageError{msg: "--to is required: a time or latest"}
			}
			target, err := pitr.ParseTarget(to, time.Local)
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			d, r, err := dbCall[pitr.RestoreResult](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				id, err := backupIdentity(s)
				return &pitr.Request{Op: "restore", Config: d.cfg, Identity: id, Target: target}, err
			})
			if err != nil {
				return err
			}
			return f.show(s, r, func() {
				s.printf("restored %s on %s from backup %s to %s\n", d.cfg.Cluster, d.where.Name, r.Backup, r.Target)
				s.printf("  last transaction replayed: %s; recovery ended at %s; now on timeline %d, promoted and writable\n", ts(r.ReplayedTo), r.EndLSN, r.Timeline)
				if r.KeptAside != "" {
					s.printf("  the previous data directory is kept at %s (remove it when you no longer need it)\n", r.KeptAside)
				}
				s.printf("  took %s\n", r.Duration)
			})
		},
	}
}
