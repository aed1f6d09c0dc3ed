package cli

import (
	"errors"
	"filippo.io/age"
	"flag"
	"fmt"
	"os"

	"tend/internal/hint"
	"tend/internal/secret"
)

func secretCmd() *command {
	return &command{
		name:    "secret",
		summary: "encrypted secrets of an environment: list, get, set, edit, rekey, import",
		help: `Secrets live in secrets/<env>.yaml: names in clear, each value encrypted with
age to the environment's recipients, one line per secret (docs/secrets.md).
Secret names start with vault_. The key comes from TEND_AGE_KEY (for CI) or
the key file TEND_AGE_KEY_FILE (default ~/.config/tend/age.key, mode 0600).`,
		subs: []*command{
			secretKeygenCmd(),
			secretListCmd(),
			secretGetCmd(),
			secretSetCmd(),
			secretRmCmd(),
			secretEditCmd(),
			secretRekeyCmd(),
			secretImportCmd(),
		},
	}
}

func repoFlag(fs *flag.FlagSet, repo *string) {
	fs.StringVar(repo, "repo", ".", "the infrastructure repository `DIR`")
}

// secretPath returns the secret file of env in repo; a bad name is a usage
// error.
func secretPath(repo, env string) (string, error) {
	path, err := secret.Path(repo, env)
	if err != nil {
		return "", &usageError{msg: err.Error()}
	}
	return path, nil
}

// openSecretFile loads the secret file of env in repo and the identities
// that decrypt it, for the commands that read or re-encrypt values.
func openSecretFile(s *session, repo, env string) (*secret.File, []age.Identity, error) {
	f, err := loadSecretFile(repo, env)
	if err != nil {
		return nil, nil, err
	}
	ids, err := secret.Identities(s.getenv)
	if err != nil {
		return nil, nil, err
	}
	return f, ids, nil
}

// loadSecretFile loads the secret file of env in repo.
func loadSecretFile(repo, env string) (*secret.File, error) {
	path, err := secretPath(repo, env)
	if err != nil {
		return nil, err
	}
	f, err := secret.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.Wrap(err, fmt.Sprintf("create it with 'tend secret set %s vault_NAME --recipient age1...'", env))
	}
	return f, err
}

// logVerification prints what the user should know about how f's recipients
// were checked.
func logVerification(s *session, f *secret.File, v secret.Verification) {
	if n := v.Note(f); n != "" {
		s.logf("tend: note: %s", n)
	}
}
