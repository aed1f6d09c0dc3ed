package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"tend/internal/secret"
)

func secretImportCmd() *command {
	var repo, passwordFile string
	var prefix bool
	var recipients stringList
	return &command{
		name:    "import-ansible-vault",
		args:    "ENV FILE",
		summary: "import the secrets of an ansible-vault file",
		help: `Decrypts FILE, an ansible-vault (1.1 or 1.2, AES256) file holding a YAML
mapping of names to values, and adds each value to the environment's secret
file. The vault password comes from --password-file or stdin. Names must
start with vault_, or use --prefix to prepend it. Names already in the
secret file are refused. A new environment needs --recipient age1...`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.StringVar(&passwordFile, "password-file", "", "read the vault password from `FILE`")
			fs.BoolVar(&prefix, "prefix", false, "prepend vault_ to names that lack it")
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV FILE"); err != nil {
				return err
			}
			env, vaultFile := args[0], args[1]
			data, err := os.ReadFile(vaultFile)
			if err != nil {
				return fmt.Errorf("read ansible-vault file: %w", err)
			}
			var password string
			if passwordFile != "" {
				p, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("read vault password: %w", err)
				}
				password = strings.TrimSpace(string(p)) // as ansible-vault does
				clear(p)
			} else if password, err = secret.ReadInput(s.stdin, "the vault password"); err != nil {
				return err
			}
			plain, err := secret.DecryptAnsibleVault(data, []byte(password))
			if err != nil {
				return fmt.Errorf("%s: %w", vaultFile, err)
			}
			values, err := secret.VaultValues(plain, prefix)
			clear(plain)
			if err != nil {
				return fmt.Errorf("%s: %w", vaultFile, err)
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
			check, err := f.Put(ids, values, false)
			if err != nil {
				return err
			}
			s.logf("%s: imported %d secrets from %s", f.Path, len(values), vaultFile)
			logVerification(s, f, check)
			return nil
		},
	}
}
