package cli

import (
	"context"
	"flag"
	"fmt"

	"tend/internal/pitr"
)

func dbDrillCmd() *command {
	var f dbFlags
	var query string
	return &command{
		name: "drill", args: "ENV", summary: "restore the latest backup to a scratch place, run a query, record the result",
		help: `Restores the latest state into a scratch directory on the database host (or
on --onto HOST), with a private server on a Unix socket and archiving off,
runs the query, records the result in the store (tend db status shows it)
and removes the scratch copy. The running cluster is not touched. Run it
from a scheduled CI job: it needs the backup identity, which hosts do not
hold; it is sent, for the drill's length, to the host that restores, so
--onto a scratch host keeps it off the database host. A drill is never sent
credentials that may delete.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			f.bindOnto(fs, "run the drill on this `host` (HOST or ENV/HOST)")
			fs.StringVar(&query, "query", "SELECT count(*) FROM pg_database", "the `SQL` run on the restored copy")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			d, r, err := dbCall[pitr.RestoreResult](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				id, err := backupIdentity(s)
				return &pitr.Request{Op: "drill", Config: d.cfg, Identity: id, Target: pitr.Target{Latest: true}, Query: query}, err
			})
			if err != nil {
				if d != nil { // the drill ran and failed
					return fmt.Errorf("restore drill FAILED (recorded): %w", err)
				}
				return err
			}
			return f.show(s, r, func() {
				s.printf("restore drill passed on %s: backup %s, replayed to %s, in %s\n  %s -> %s\n", d.where.Name, r.Backup, ts(r.ReplayedTo), r.Duration, query, r.QueryResult)
			})
		},
	}
}
