package cli

import (
	"context"
	"flag"
	"io"
	"strings"
)

func secretGetCmd() *command {
	var repo string
	return &command{
		name:    "get",
		args:    "ENV NAME",
		summary: "print one secret's value on stdout",
		help: `Prints the value of secret NAME, the one deliberate way a value leaves tend.
A value without a newline is followed by one, so that
'tend secret get A NAME | tend secret set B NAME' copies it unchanged.`,
		flags: func(fs *flag.FlagSet) { repoFlag(fs, &repo) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME"); err != nil {
				return err
			}
			f, ids, err := openSecretFile(s, repo, args[0])
			if err != nil {
				return err
			}
			v, err := f.DecryptOne(ids, args[1])
			if err != nil {
				return err
			}
			out := v.Reveal()
			if !strings.Contains(out, "\n") {
				out += "\n"
			}
			_, err = io.WriteString(s.stdout, out)
			return err
		},
	}
}
