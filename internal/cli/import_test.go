package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportAnsible: the sample converts and validates with its secrets
// imported; a new secret file without --recipient, and a second import into the same repository is refused before
// writing; the vault password is needed and checked; --env-map is checked.
func TestImportAnsible(t *testing.T) {
	src, pw, _ := ansibleSample(t)
	e := newSecretEnv(t)
	keyPath, pub := e.keygen("ci")
	e.useKey(keyPath)
	args := []string{"import", "ansible", src, "--out", e.repo, "--recipient", pub}

	e.fails(1, "", args, "no vault password was given", "tend: hint:") // stdin empty: no password
	bad := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	e.fails(1, "", append(args, "--password-file", bad), "group_vars/all/vault.yml")
	e.fails(2, "", append(args, "--env-map", "staging"), "--env-map wants INVENTORY=ENV")
	e.fails(1, "", []string{"import", "ansible", src, "--out", e.repo, "--password-file", pw}, "no recipient was given")
	if entries, _ := os.ReadDir(e.repo); len(entries) != 0 {
		t.Fatalf("a failed import wrote %d entries", len(entries))
	}

	out := e.ok("correct horse\n", append(args, "--env-map", "staging=stage")...)
	if !strings.Contains(out, "not converted: roles/foi/tasks/main.yml:98: task \"wait for the application\"") {
		t.Errorf("report:\n%s", out)
	}
	e.ok("", "validate", "--repo", e.repo)
	if got := e.ok("", "secret", "get", "stage", "vault_db_password"); got != "s3cret-db\n" {
		t.Errorf("imported secret: %q", got)
	}
	e.fails(1, "", append(args, "--password-file", pw), "environments/production.yaml exists")
}
