package cli

import (
	"context"
	"flag"

	"tend/internal/pitr"
)

func dbBackupsCmd() *command {
	var f dbFlags
	return &command{
		name: "backups", args: "ENV", summary: "list base backups and the restorable window",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			_, l, err := dbCall[pitr.BackupList](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				return &pitr.Request{Op: "backups", Config: d.cfg}, nil
			})
			if err != nil {
				return err
			}
			return f.show(s, l, func() { printBackups(s, l) })
		},
	}
}

func printBackups(s *session, l *pitr.BackupList) {
	s.printf("%-27s  %-21s  %-21s  %8s  %s\n", "BACKUP", "RESTORES FROM", "TO", "SIZE", "WAL")
	for _, w := range l.Windows {
		state := "up to " + w.Last
		if !w.Usable {
			state = "UNUSABLE: " + w.Missing + " missing"
		} else if w.Gap {
			state += ", then a gap at " + w.Missing
		}
		s.printf("%-27s  %-21s  %-21s  %6dMB  %s\n", w.Backup.ID, ts(w.From), ts(w.To), w.Backup.Size>>20, state)
	}
	if from, to, ok := pitr.Span(l.Windows); ok {
		s.printf("\nrestorable window: %s to %s (%d WAL files)\n", ts(from), ts(to), l.WALFiles)
	} else {
		s.printf("\nnothing is restorable\n")
	}
	for _, i := range l.Incomplete {
		s.printf("incomplete backup %s (%d objects, last written %s): deleted by tend db prune after a day\n", i.ID, len(i.Keys), ts(i.ModTime))
	}
}
