package cli

import (
	"context"
	"flag"
	"time"
)

func snapRestoreCmd() *command {
	var o snapOpts
	var to string
	return &command{
		name:    "restore",
		args:    "SNAPSHOT [PATH]",
		summary: "restore a snapshot, or PATH in it, under --to DIR (needs the identity)",
		help: `Restores with full paths: restoring /var/mail to /tmp/r gives /tmp/r/var/mail.
Content is verified; owners are restored when running as root; sparse files
stay sparse.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&to, "to", "", "restore under `DIR` (required)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 2, "SNAPSHOT [PATH]"); err != nil {
				return err
			}
			if to == "" {
				return &usageError{msg: "--to DIR is required"}
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			start := time.Now()
			sn, res, err := r.RestoreRef(ctx, args[0], argOr(args, 1, "/"), to)
			if err != nil {
				return err
			}
			s.printf("restored %d files (%s), %d dirs, %d hard links from snapshot %s to %s in %.1fs\n",
				res.Files, formatSize(res.Bytes), res.Dirs, res.Links, sn.ID.Short(), to, time.Since(start).Seconds())
			return nil
		},
	}
}
