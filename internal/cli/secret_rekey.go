package cli

import (
	"context"
	"flag"

	"tend/internal/secret"
)

func secretRekeyCmd() *command {
	var repo string
	var add, remove stringList
	var confirm bool
	return &command{
		name:    "rekey",
		args:    "ENV",
		summary: "add or remove recipients and re-encrypt every value",
		help: `Opens every value with your key, changes the recipients (--add age1...[=LABEL],
--remove age1..., both repeatable) and encrypts every value again, bound to
the new list of recipients, so a removed key cannot open the new file. It can
still open old versions in git history: when a key is lost or a person
leaves, change the secrets too.

A file whose recipients were changed without a key (by editing it) is
refused. --confirm-recipients accepts the recipients as the file lists them
now and binds every value to them: run it after checking the list, when a
merge or an older tend left values bound to another list or to none.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.Var(&add, "add", "public `KEY` (age1...[=LABEL]) to add; repeatable")
			fs.Var(&remove, "remove", "public `KEY` (age1...) to remove; repeatable")
			fs.BoolVar(&confirm, "confirm-recipients", false, "accept the recipients the file lists now (check them first)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			if len(add)+len(remove) == 0 && !confirm {
				return &usageError{msg: "nothing to do: give --add, --remove or --confirm-recipients"}
			}
			rs, err := secret.ParseRecipients(add)
			if err != nil {
				return err
			}
			f, ids, err := openSecretFile(s, repo, args[0])
			if err != nil {
				return err
			}
			if err := f.Rekey(ids, secret.RecipientChange{Add: rs, Remove: remove, Confirm: confirm}); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: %d secrets encrypted again to %d recipients:", f.Path, len(f.Secrets), len(f.Recipients))
			for _, r := range f.Recipients {
				if r.Label != "" {
					s.logf("  %s  # %s", r.Key, r.Label)
				} else {
					s.logf("  %s", r.Key)
				}
			}
			if !f.HasAnyRecipient(secret.PublicKeys(ids)) {
				s.logf("note: your own key can no longer open %s", f.Path)
			}
			return nil
		},
	}
}
