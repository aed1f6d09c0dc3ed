package cli

import (
	"context"
	"flag"

	"tend/internal/roleimport"
)

func roleCmd() *command {
	return &command{
		name:    "role",
		summary: "roles imported from other git repositories",
		subs:    []*command{roleFetchCmd()},
	}
}

func roleFetchCmd() *command {
	var repo string
	var update bool
	return &command{
		name:    "fetch",
		args:    "[NAME...]",
		summary: "vendor the roles tend.yaml imports, at their pinned refs, and record the commits in tend.lock",
		help: `For each role of tend.yaml's imports (or those named), fetches its git
repository at the pinned ref, copies the role's directory into
vendor/roles/NAME and records the commit and the hash of its files in
tend.lock. Commit both: plan and apply then use exactly those files, and
refuse a vendored role edited by hand. A ref that now resolves to another
commit than tend.lock's (a moved tag, an advanced branch) is refused unless
--update is given.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.BoolVar(&update, "update", false, "take a ref that now resolves to another commit than tend.lock's")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			rs, err := roleimport.Fetch(ctx, repo, args, update, s.logf)
			for _, r := range rs {
				state := "unchanged"
				if r.Changed {
					state = "vendored"
				}
				s.printf("%s %s %s\n", r.Name, r.Commit, state)
			}
			return err
		},
	}
}
