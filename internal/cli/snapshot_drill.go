package cli

import (
	"context"
	"flag"
	"os"
)

func snapDrillCmd() *command {
	var o snapOpts
	var scratch string
	return &command{
		name:    "drill",
		args:    "[SNAPSHOT]",
		summary: "restore a snapshot (default latest) to a scratch place, verify it, record the result",
		help: `Restores the snapshot into a new directory under --scratch (every blob is
checked against its keyed ID), compares the copy's files and bytes with
what the snapshot recorded, removes the copy, and stores the result under
drills/ in the repository; "tend snapshot list" shows the last one. Needs
the identity: run it from a scheduled CI job.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&scratch, "scratch", os.TempDir(), "where the scratch copy goes (`DIR`)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 1, "[SNAPSHOT]"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			sn, d, err := r.DrillRef(ctx, argOr(args, 0, "latest"), scratch)
			if err != nil {
				return err
			}
			s.printf("restore drill passed: snapshot %s of %s, %d files (%s) restored and verified in %s\n",
				sn.ID.Short(), sn.Host, d.Files, formatSize(d.Bytes), d.Duration)
			return nil
		},
	}
}
