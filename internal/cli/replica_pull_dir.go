package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"tend/internal/replica"
	"tend/internal/retention"
)

func replicaPullDirCmd() *command {
	var from, to, key, knownHosts, status string
	var port int
	var keep retention.Policy
	var asJSON bool
	return &command{
		name:    "pull-dir",
		summary: "copy a production directory into dated, hard-linked copies over SSH",
		help: `Copies USER@HOST:DIR with rsync over SSH into a new dated copy under --to
(--to/2006-01-02T150405Z), hard-linking files unchanged since the previous
copy; --to/latest points to the newest complete copy. A failed pull leaves
no dated copy. The --keep-* policy then removes older copies (the newest
always stays).

Production must accept the key only for reading DIR: put this before the
storage host's public key in production's authorized_keys:

  command="/usr/bin/rrsync -ro -absolute DIR",restrict

(rrsync comes with Debian's rsync package; -absolute needs rsync 3.4 or
later.) The host key must be in --known-hosts: unknown keys are refused.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the production directory, `USER@HOST:DIR` (required)")
			fs.StringVar(&to, "to", "", "the local `DIR` holding the dated copies (required)")
			fs.StringVar(&key, "ssh-key", "", "the storage host's private key `FILE` (required)")
			fs.StringVar(&knownHosts, "known-hosts", "", "the known hosts `FILE` that pins production's host key (default: ssh's)")
			fs.IntVar(&port, "port", 22, "production's SSH port")
			fs.StringVar(&status, "status", "", "write the replica's status to `FILE`")
			keep = retention.Policy{Hourly: 48, Daily: 14, Weekly: 8, Monthly: 12}
			fs.IntVar(&keep.Last, "keep-last", keep.Last, "keep the `N` newest copies (-1: all)")
			fs.IntVar(&keep.Hourly, "keep-hourly", keep.Hourly, "keep the newest copy of each of the last `N` hours that have one")
			fs.IntVar(&keep.Daily, "keep-daily", keep.Daily, "keep the newest copy of each of the last `N` days that have one")
			fs.IntVar(&keep.Weekly, "keep-weekly", keep.Weekly, "keep the newest copy of each of the last `N` ISO weeks that have one")
			fs.IntVar(&keep.Monthly, "keep-monthly", keep.Monthly, "keep the newest copy of each of the last `N` months that have one")
			fs.IntVar(&keep.Yearly, "keep-yearly", keep.Yearly, "keep the newest copy of each of the last `N` years that have one")
			fs.Var((*durationFlag)(&keep.Within), "keep-within", "keep every copy younger than `DURATION` before the newest (e.g. 2d)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 {
				return &usageError{msg: "unexpected argument " + strconv.Quote(args[0])}
			}
			if from == "" || to == "" || key == "" {
				return &usageError{msg: "--from, --to and --ssh-key are required"}
			}
			user, host, dir, err := replica.ParseRemote(from)
			if err != nil {
				return &usageError{msg: "--from " + err.Error()}
			}
			if err := keep.Validate(); err != nil {
				return &usageError{msg: err.Error()}
			}
			rep, err := replica.PullDir(ctx, replica.DirOptions{
				User: user, Host: host, Port: port, Dir: dir, To: absOrEmpty(to),
				SSHKey: absOrEmpty(key), KnownHosts: absOrEmpty(knownHosts), Keep: keep, StatusFile: absOrEmpty(status)})
			summary := fmt.Sprintf("copy %s: %d files copied (%d bytes), %d unchanged and hard-linked, %d old copies removed (%s)",
				rep.Copy, rep.Copied, rep.CopiedBytes, rep.Skipped, len(rep.Deleted), keep)
			if err != nil {
				summary = ""
			}
			if perr := printReport(s, rep, asJSON, summary); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		},
	}
}
