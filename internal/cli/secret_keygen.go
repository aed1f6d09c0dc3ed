package cli

import (
	"context"
	"flag"
	"time"

	"tend/internal/secret"
)

func secretKeygenCmd() *command {
	var out string
	return &command{
		name:    "keygen",
		summary: "create your age key (mode 0600) and print its public key",
		help: `Writes a new age X25519 identity to --out (default: TEND_AGE_KEY_FILE, else
~/.config/tend/age.key) with mode 0600, and prints the public key (age1...)
on stdout. Give that public key to someone who holds the key of an
environment; they run 'tend secret rekey ENV --add <public key>'.
An existing file is never overwritten.`,
		flags: func(fs *flag.FlagSet) { fs.StringVar(&out, "out", "", "write the key to `FILE`") },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			path := out
			if path == "" {
				var err error
				if path, err = secret.KeyFile(s.getenv); err != nil {
					return err
				}
			}
			pub, err := secret.GenerateKey(path, time.Now())
			if err != nil {
				return err
			}
			s.logf("key written to %s (mode 0600); share only the public key below", path)
			s.printf("%s\n", pub)
			return nil
		},
	}
}
