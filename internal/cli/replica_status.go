package cli

import (
	"context"
	"errors"
	"flag"
	"time"

	"tend/internal/hint"
	"tend/internal/replica"
)

func replicaStatusCmd() *command {
	var maxAge durationFlag
	var asJSON bool
	return &command{
		name:    "status",
		args:    "FILE...",
		summary: "show replicas' age and last error; fail when one is failing or late",
		help: `Reads the status files written by pull-store and pull-dir --status. Exits
1 with a message per replica when one failed its last pull, never
succeeded, or (with --max-age) is older than the given age.`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&maxAge, "max-age", "fail when the last success is older than `DURATION` (e.g. 1h, 2d)")
			fs.BoolVar(&asJSON, "json", false, "print the status records as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) == 0 {
				return &usageError{msg: "expected one or more status FILEs"}
			}
			now := time.Now()
			checked := replica.CheckFiles(args, now, time.Duration(maxAge))
			var problems []error
			all := []replica.Status{}
			for _, c := range checked {
				if c.Err != nil {
					problems = append(problems, c.Err)
				}
				if c.Read {
					all = append(all, c.Status)
				}
			}
			if asJSON {
				if err := s.printJSON(all); err != nil {
					return err
				}
			} else {
				for _, c := range checked {
					if !c.Read {
						continue
					}
					last := "never"
					if t := c.Status.LastSuccess; !t.IsZero() {
						last = t.Format(time.RFC3339) + " (" + replica.RoundAge(now.Sub(t)).String() + " ago)"
					}
					s.printf("%-7s %s <- %s  last success %s\n", c.State, c.Status.Target, c.Status.Source, last)
				}
			}
			if len(problems) > 0 {
				return hint.Wrap(errors.Join(problems...),
					"look at the pull's journal on the storage host (journalctl -u 'tend-replica-*'), fix it, and run the pull again")
			}
			return nil
		},
	}
}
