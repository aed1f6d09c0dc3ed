package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"tend/internal/replica"
	"tend/internal/store/storeurl"
)

func replicaPullStoreCmd() *command {
	var from, to, status string
	var workers int
	var keepDeleted durationFlag
	var asJSON bool
	return &command{
		name:    "pull-store",
		summary: "mirror an object store (snapshot repository, PostgreSQL archive) into another",
		help: `Copies every object of --from that --to lacks, several at a time; a second
run copies only new objects. Objects deleted at the source stay in the
replica for --keep-deleted (counted from the first pull that missed them;
the clocks live in the replica under .tend-replica/). An object that
changed at the source under the same key is an error; its old replica copy
is kept under .tend-replica/changed/.

Credentials come from the environment, never the command line: the
source's as TEND_FROM_AWS_ACCESS_KEY_ID, TEND_FROM_AWS_SECRET_ACCESS_KEY
(and TEND_FROM_AWS_SESSION_TOKEN), the replica's as TEND_TO_AWS_*. Give the
source credentials that can only read.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the source store `URL` (required)")
			fs.StringVar(&to, "to", "", "the replica store `URL` (required)")
			fs.StringVar(&status, "status", "", "write the replica's status to `FILE`")
			fs.IntVar(&workers, "workers", 4, "objects copied at once")
			keepDeleted = durationFlag(replica.DefaultKeepDeleted)
			fs.Var(&keepDeleted, "keep-deleted", "keep objects deleted at the source for `DURATION` (e.g. 30d, 12w)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 {
				return &usageError{msg: "unexpected argument " + strconv.Quote(args[0])}
			}
			if from == "" || to == "" {
				return &usageError{msg: "--from and --to are required"}
			}
			if workers < 1 {
				return &usageError{msg: "--workers must be at least 1"}
			}
			src, err := storeurl.Open(ctx, from, prefixed(s.getenv, replicaFromEnv))
			if err != nil {
				return replicaCredHint(fmt.Errorf("source: %w", err), replicaFromEnv)
			}
			dst, err := storeurl.Open(ctx, to, prefixed(s.getenv, replicaToEnv))
			if err != nil {
				return replicaCredHint(fmt.Errorf("replica: %w", err), replicaToEnv)
			}
			rep, err := replica.PullStore(ctx, src, dst, replica.StoreOptions{
				Workers: workers, KeepDeleted: time.Duration(keepDeleted), StatusFile: absOrEmpty(status)})
			if perr := printReport(s, rep, asJSON, fmt.Sprintf("%d objects copied (%d bytes), %d already there, %d deleted at the source and kept, %d deleted after --keep-deleted",
				rep.Copied, rep.CopiedBytes, rep.Skipped, rep.Missing, len(rep.Deleted))); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		},
	}
}
