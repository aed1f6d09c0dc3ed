package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"tend/internal/pitr"
)

func dbCheckCmd() *command {
	var f dbFlags
	var readData bool
	return &command{
		name: "check", args: "ENV", summary: "check the archive: restorable backups, WAL gaps, and with --read-data every object",
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&readData, "read-data", false, "read back, unseal and verify every backup part and WAL file (needs the backup identity)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			d, problems, err := dbCall[[]string](ctx, s, &f, args, func(d *dbTarget) (*pitr.Request, error) {
				req := &pitr.Request{Op: "check", Config: d.cfg, ReadData: readData}
				var err error
				if readData {
					req.Identity, err = backupIdentity(s)
				}
				return req, err
			})
			if err != nil {
				return err
			}
			if len(*problems) > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("the archive of %s has problems:\n%s", d.cfg.Cluster, strings.Join(*problems, "\n"))}
			}
			s.printf("the archive of %s in %s is sound\n", d.cfg.Cluster, d.cfg.Store)
			return nil
		},
	}
}
