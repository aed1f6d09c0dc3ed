package cli

import (
	"context"
	"flag"
)

func secretRmCmd() *command {
	var repo string
	return &command{
		name:    "rm",
		args:    "ENV NAME",
		summary: "remove a secret",
		help:    `Removes secret NAME from the environment's file. Needs no key.`,
		flags:   func(fs *flag.FlagSet) { repoFlag(fs, &repo) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME"); err != nil {
				return err
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			if err := f.Remove(args[1]); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: removed %s", f.Path, args[1])
			return nil
		},
	}
}
