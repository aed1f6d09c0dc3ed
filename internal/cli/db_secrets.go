package cli

import (
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/plan"
	"tend/internal/secret"
	"tend/internal/spec"
)

// What the tend db commands decrypt, and only when they need it: the
// environment's secrets (the store credentials, for a restore onto
// another host) and the backup identity (to read backups).

// backupCredentials are the store credentials of the backup's spec, with
// the environment's secrets decrypted.
func backupCredentials(s *session, d *dbTarget, dir string) (map[string]string, error) {
	ps, err := withSecrets(s, d, dir)
	if err != nil {
		return nil, err
	}
	if ps.Env == nil {
		return map[string]string{}, nil
	}
	return ps.Env, nil
}

// withSecrets compiles the backup's spec again, with the environment's
// secrets decrypted.
func withSecrets(s *session, d *dbTarget, dir string) (*spec.PostgresBackup, error) {
	repo, err := spec.Load(dir)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	e, err := inventory.Environment(repo, d.env)
	if err != nil {
		return nil, exitCodeOf(err)
	}
	secrets, err := plan.Secrets(repo.Dir, e, s.getenv)
	if err != nil {
		return nil, err
	}
	c, err := repo.Compile(d.env, d.host.Name, secrets)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	for _, r := range c.Resources {
		if ps, ok := r.Spec.(*spec.PostgresBackup); ok && r.Name == d.name {
			return ps, nil
		}
	}
	return nil, fmt.Errorf("host %s: postgres_backup %s: not found with the secrets", d.host.Name, d.name)
}

// fromSecret says whether a field the host's configuration is made of
// (the store, the recipients) holds a secret, which a spec compiled
// without the secrets only has a placeholder for.
func fromSecret(ps *spec.PostgresBackup) bool {
	for _, v := range append([]string{ps.Store}, ps.Recipients...) {
		if strings.Contains(v, "(secret ") {
			return true
		}
	}
	return false
}

// backupIdentity reads the identity that opens backups.
func backupIdentity(s *session) (string, error) {
	var ids []age.Identity
	var err error
	if p := s.getenv("TEND_BACKUP_KEY_FILE"); p != "" {
		ids, err = secret.Identities(func(k string) string {
			if k == "TEND_AGE_KEY_FILE" {
				return p
			}
			return ""
		})
	} else {
		ids, err = secret.Identities(s.getenv)
	}
	if err != nil {
		return "", hint.Wrap(err, "reading backups needs the identity they are sealed to: set TEND_BACKUP_KEY_FILE")
	}
	var lines []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			lines = append(lines, x.String())
		}
	}
	if len(lines) == 0 {
		return "", errors.New("no X25519 identity to read backups with")
	}
	return strings.Join(lines, "\n"), nil
}

// pruneCredentials is what prune opens the store with, where it runs:
// the store credentials of this machine's environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the ones that may delete),
// else the spec's, decrypted from the environment's secrets. None of
// them is sent to a host.
func pruneCredentials(s *session, d *dbTarget, dir string) (func(string) string, error) {
	if s.getenv("AWS_ACCESS_KEY_ID") != "" {
		return s.getenv, nil
	}
	env, err := backupCredentials(s, d, dir)
	if err != nil {
		return nil, err
	}
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return s.getenv(k)
	}, nil
}
