package cli

import (
	"context"
	"flag"
	"time"

	"tend/internal/snapshot"
)

func snapPruneCmd() *command {
	var (
		o      snapOpts
		dryRun bool
		minAge time.Duration
	)
	return &command{
		name:    "prune",
		summary: "delete data no snapshot uses (two phases; needs the identity)",
		help: `Each run marks the data no snapshot references, and deletes what an earlier
run marked at least --min-age ago and is still unreferenced, rewriting only
the packs that hold garbage. Run it regularly (e.g. daily). It holds a lease
that expires by itself (10 minutes, renewed while running), so a killed
prune never blocks the next one for long. Safe while creates run.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.BoolVar(&dryRun, "dry-run", false, "show what would be marked and deleted, change nothing")
			fs.DurationVar(&minAge, "min-age", time.Hour, "how long garbage stays marked before deletion; above any clock skew between hosts")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, true)
			if err != nil {
				return err
			}
			if minAge <= 0 {
				minAge = -1 // the library's "no delay"
			}
			res, err := r.Prune(ctx, snapshot.PruneOptions{DryRun: dryRun, MinAge: minAge})
			if err != nil {
				return err
			}
			for _, l := range res.Lines {
				if dryRun {
					l = "would " + l
				}
				s.printf("%s\n", l)
			}
			verb := "freed"
			if dryRun {
				verb = "would free"
			}
			s.printf("%s %s: %d blobs deleted, %d packs deleted, %d rewritten (%s written), %d unindexed packs removed; %d blobs newly marked, %d waiting\n",
				verb, formatSize(uint64(res.FreedBytes)), res.DeletedBlobs, res.DeletedPacks, res.RepackedPacks, formatSize(uint64(res.WrittenBytes)),
				res.OrphanPacks, res.MarkedBlobs, res.Pending)
			if res.KeptByLock > 0 {
				s.printf("%d objects kept by the store's object lock; a later prune deletes them\n", res.KeptByLock)
			}
			return nil
		},
	}
}
