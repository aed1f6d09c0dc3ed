package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"tend/internal/pitr"
)

func dbStatusCmd() *command {
	var f dbFlags
	return &command{
		name: "status", args: "ENV", summary: "archiving health, backlog, restorable window, last drill; exit 1 when something is wrong",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			d, st, err := dbCall[pitr.Status](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				return &pitr.Request{Op: "status", Config: d.cfg}, nil
			})
			if err != nil {
				return err
			}
			if err := f.show(s, st, func() { printStatus(s, d.host.Name, st) }); err != nil {
				return err
			}
			if len(st.Problems) > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("backups of %s on %s are NOT healthy:\n%s", st.Cluster, d.host.Name, strings.Join(st.Problems, "\n"))}
			}
			return nil
		},
	}
}

func printStatus(s *session, host string, st *pitr.Status) {
	age := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return fmt.Sprintf("%s (%s ago)", ts(*t), st.Now.Sub(*t).Round(time.Second))
	}
	s.printf("cluster %s on %s, archiving to %s (archive_mode %s, archive_timeout %ds)\n", st.Cluster, host, st.Store, st.ArchiveMode, st.ArchiveTimeout)
	s.printf("  last archived:  %s %s\n", st.LastArchived, age(st.LastArchivedTime))
	s.printf("  failures:       %d, last %s %s\n", st.FailedCount, st.LastFailed, age(st.LastFailedTime))
	s.printf("  backlog:        %d WAL files waiting\n", st.Ready)
	s.printf("  base backups:   %d, last %s\n", st.Backups, age(st.LastBackupTime))
	if st.From != nil {
		s.printf("  restorable:     %s to %s\n", ts(*st.From), ts(*st.To))
	}
	if st.Protection != "" {
		s.printf("  protection:     %s\n", st.Protection)
	}
	if d := st.LastDrill; d != nil {
		res := "passed"
		if !d.OK {
			res = "FAILED: " + d.Error
		}
		s.printf("  last drill:     %s on %s, %s\n", age(&d.Time), d.Host, res)
	} else {
		s.printf("  last drill:     never (run tend db drill)\n")
	}
	if len(st.Problems) == 0 {
		s.printf("  healthy\n")
	}
}
