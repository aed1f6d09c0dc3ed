package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateSecrets: validate enforces the secrets convention.
func TestValidateSecrets(t *testing.T) {
	e := newSecretEnv(t)
	write := func(name, content string) {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tend.yaml", "name: s\n")
	write("environments/production.yaml", "secrets:\n  db_password: vault_db_password\n  api_key: vault_api_key\nhosts:\n  web:\n    address: 192.0.2.1\n    roles: [app]\n")
	write("roles/app/role.yaml", "resources:\n  - file: /etc/app.conf\n    content: \"pw={{ .db_password }}\\n\"\n")
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok("correct-horse-battery\n", "secret", "set", "production", "vault_db_password", "--recipient", pub)

	errs := e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo},
		"environments/production.yaml:3:12: secret vault_api_key is not in secrets/production.yaml; add it with: tend secret set production vault_api_key")
	if strings.Contains(errs, "vault_db_password is not") {
		t.Errorf("a secret that is set was reported missing:\n%s", errs)
	}
	e.ok("k3y-value-1234\n", "secret", "set", "production", "vault_api_key")
	e.ok("", "validate", "--repo", e.repo)

	// A vault_ name outside the mapping, and a secret value in clear.
	write("roles/app/role.yaml", "resources:\n  - file: /etc/app.conf\n    content: \"pw={{ .db_password }}\\n\"\n  - file: /etc/legacy.conf\n    content: \"# was {{ \\\"vault_db_password\\\" }}\\nkey=k3y-value-1234\\n\"\n")
	errs = e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo},
		"roles/app/role.yaml:5:",
		"vault_db_password: secret names are used only under secrets: in an environment file",
		"roles/app/role.yaml:5: the value of secret vault_api_key appears in plain text (environment production)")
	if strings.Contains(errs, "k3y-value-1234") {
		t.Errorf("validate printed the secret value:\n%s", errs)
	}

	// Without the key, the plain-text check is skipped, and says so.
	delete(e.env, "TEND_AGE_KEY_FILE")
	e.env["HOME"] = t.TempDir()
	_, errs, _ = e.run("", "validate", "--repo", e.repo)
	if !strings.Contains(errs, "tend: note: no secrets key at hand: the check for secret values in plain text was skipped") {
		t.Errorf("no note about the skipped check:\n%s", errs)
	}
}
