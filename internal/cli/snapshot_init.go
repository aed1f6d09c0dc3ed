package cli

import (
	"context"
	"flag"
	"time"

	"tend/internal/hint"
	"tend/internal/snapshot"
	"tend/internal/store/storeurl"
)

func snapInitCmd() *command {
	var o snapOpts
	var keyFile string
	return &command{
		name:    "init",
		summary: "create an empty snapshot repository in the store",
		help: `Creates the repository. The write key comes from TEND_SNAPSHOT_KEY or
TEND_SNAPSHOT_KEY_FILE when set; otherwise a new key is generated and written
to --key-file (or the TEND_SNAPSHOT_KEY_FILE path), mode 0600, never printed.
Store that key as a tend secret and keep it off the hosts: a file_backup
gives each host the host key derived from it for its name (by hand:
'tend snapshot host-key NAME'). Keep the age identity off hosts too.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&keyFile, "key-file", "", "write a newly generated write key to `FILE` (created, mode 0600)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			u, err := o.storeURL(s)
			if err != nil {
				return err
			}
			k, haveKey, err := snapWriteKey(s, "init")
			if err != nil {
				return err
			}
			if !haveKey && keyFile == "" {
				keyFile = s.getenv(envSnapKeyFile)
			}
			if !haveKey && keyFile == "" {
				return hint.New("no write key given and nowhere to write a new one",
					"give --key-file FILE to generate one, or set "+envSnapKey+" to an existing key")
			}
			st, err := storeurl.Open(ctx, u, s.getenv)
			if err != nil {
				return err
			}
			var cfg snapshot.Config
			if haveKey {
				cfg, err = snapshot.Init(ctx, st, k, time.Now())
			} else {
				cfg, err = snapshot.InitKeyFile(ctx, st, keyFile, time.Now())
			}
			if err != nil {
				return err
			}
			s.printf("created snapshot repository %s in %s\n", cfg.ID, st)
			if !haveKey {
				s.printf("wrote the new write key to %s (mode 0600)\n", keyFile)
				s.printf("store it as a secret; hosts get host keys derived from it ('tend snapshot host-key NAME',\n")
				s.printf("or a file_backup's key), the age recipients (public keys), and never the identity\n")
			}
			return nil
		},
	}
}
