package cli

import (
	"context"
	"flag"

	"tend/internal/secret"
)

func secretSetCmd() *command {
	var repo string
	var recipients stringList
	return &command{
		name:    "set",
		args:    "ENV NAME",
		summary: "set a secret from stdin (never from the command line)",
		help: `Reads the value of secret NAME from stdin (a single line loses its trailing
newline) and encrypts it to the environment's recipients. Needs no key; it
refuses a file whose recipients were changed without a key (checked fully
with a key, by counting without one). The first secret of a new environment
needs --recipient age1... (repeatable, optionally age1...=LABEL).`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME (the value comes from stdin)"); err != nil {
				return err
			}
			env, name := args[0], args[1]
			if err := secret.CheckName(name); err != nil {
				return err
			}
			path, err := secretPath(repo, env)
			if err != nil {
				return err
			}
			f, err := secret.LoadOrNew(path, recipients)
			if err != nil {
				return err
			}
			ids, err := secret.OptionalIdentities(s.getenv)
			if err != nil {
				return err
			}
			v, err := secret.ReadInput(s.stdin, "the secret value")
			if err != nil {
				return err
			}
			verb := "added"
			if f.Has(name) {
				verb = "changed"
			}
			check, err := f.Put(ids, map[string]secret.Value{name: secret.NewValue(v)}, true)
			if err != nil {
				return err
			}
			s.logf("%s: %s %s (encrypted to %d recipients)", f.Path, verb, name, len(f.Recipients))
			logVerification(s, f, check)
			return nil
		},
	}
}
