package cli

import (
	"context"
	"flag"

	"tend/internal/pitr"
)

func dbBackupCmd() *command {
	var f dbFlags
	return &command{
		name: "backup", args: "ENV", summary: "take a base backup now",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			d, b, err := dbCall[pitr.Backup](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				return &pitr.Request{Op: "backup", Config: d.cfg}, nil
			})
			if err != nil {
				return err
			}
			return f.show(s, b, func() {
				s.printf("backup %s of %s on %s: %d MB in %d parts, restorable from %s\n", b.ID, b.Cluster, d.host.Name, b.Size>>20, len(b.Parts), ts(b.StopTime))
			})
		},
	}
}
