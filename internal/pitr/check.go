package pitr

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Check reports what is wrong with the archive: backups that cannot be
// restored, gaps in the WAL, names archived twice, and with readData every
// object read back, unsealed and compared with its recorded hash.
func (a *Archive) Check(ctx context.Context, readData bool) ([]string, error) {
	ws, inc, wal, err := a.Load(ctx)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, i := range inc {
		if i.Problem != "" {
			problems = append(problems, fmt.Sprintf("backup %s cannot be used: %s", i.ID, i.Problem))
		}
	}
	for _, w := range ws {
		b := w.Backup
		if !w.Usable {
			problems = append(problems, fmt.Sprintf("backup %s cannot be restored: WAL segment %s is missing (it needs %s to %s)",
				b.ID, w.Missing, b.StartSegment().Name(b.SegSize), b.StopSegment().Name(b.SegSize)))
		} else if w.Gap {
			problems = append(problems, fmt.Sprintf("the archive has a gap: WAL segment %s is missing, later segments are archived; backup %s restores only up to %s",
				w.Missing, b.ID, w.To.UTC().Format(time.RFC3339)))
		}
	}
	seen := map[string]int{}
	for _, o := range wal {
		seen[o.Name]++
		if seen[o.Name] == 2 {
			problems = append(problems, fmt.Sprintf("%s is archived more than once with different contents", o.Name))
		}
	}
	if !readData {
		return problems, nil
	}
	for _, w := range ws {
		if err := a.Read(ctx, &w.Backup, io.Discard); err != nil {
			problems = append(problems, fmt.Sprintf("backup %s: %v", w.Backup.ID, err))
		}
	}
	for _, o := range wal {
		if _, err := a.read(ctx, o); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems, nil
}
