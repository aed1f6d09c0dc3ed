package cli

import (
	"context"
	"flag"
	"fmt"

	"tend/internal/hint"
	"tend/internal/secret"
	"tend/internal/snapshot"
)

func snapCheckCmd() *command {
	var (
		o        snapOpts
		readData fractionFlag
	)
	return &command{
		name:    "check",
		summary: "verify the repository; --read-data reads all or a fraction of the data",
		help: `Checks snapshots, index objects and that every pack the index lists exists
with its size, and walks every snapshot to verify that each file's data is
stored. --read-data (all packs) or --read-data=0.1 (a random tenth) also
downloads packs and verifies every blob. Problems name the affected
snapshots and files; any problem exits 1. Without the identity only the
structure that does not need decryption is checked.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.Var(&readData, "read-data", "read and verify all packs, or `FRACTION` of them (0.1 or 10%)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			_, idErr := secret.Identities(s.getenv)
			r, err := o.open(ctx, s, idErr == nil, false)
			if err != nil {
				return err
			}
			if idErr != nil {
				if readData > 0 {
					return fmt.Errorf("check --read-data: %w", idErr)
				}
				s.logf("no age identity (%v): checking only what needs no decryption", idErr)
			}
			res, err := r.Check(ctx, snapshot.CheckOptions{ReadData: float64(readData)})
			if err != nil {
				return err
			}
			for _, n := range res.Notes {
				s.printf("note: %s\n", n)
			}
			for _, p := range res.Problems {
				s.printf("%s\n", p)
			}
			if len(res.Problems) > 0 {
				return hint.Wrap(fmt.Errorf("check: %d problem(s) in %s", len(res.Problems), r.Store()),
					"restore what is affected from another copy, or forget the snapshots named above and run create again")
			}
			s.printf("no problems: %d snapshots, %d packs (%d read), %d blobs\n", res.Snapshots, res.Packs, res.PacksRead, res.Blobs)
			return nil
		},
	}
}
