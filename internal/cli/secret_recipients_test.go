package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSpec writes a minimal repository whose production environment maps
// db_password to secret.
func (e *secretEnv) writeSpec(secret string) {
	e.t.Helper()
	for name, content := range map[string]string{
		"tend.yaml":                    "name: s\n",
		"environments/production.yaml": "secrets:\n  db_password: " + secret + "\nhosts:\n  web:\n    address: 192.0.2.1\n    roles: [app]\n",
		"roles/app/role.yaml":          "resources:\n  - file: /etc/app.conf\n    content: \"pw={{ .db_password }}\\n\"\n",
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *secretEnv) writeFile(env, text string) {
	e.t.Helper()
	os.MkdirAll(filepath.Join(e.repo, "secrets"), 0o755)
	if err := os.WriteFile(filepath.Join(e.repo, "secrets", env+".yaml"), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// TestSecretRecipientsChangedByHand: a key added to the recipients by
// editing the file is refused by validate and by every secret command that
// reads or encrypts, with a key and without; the same key added with
// 'tend secret rekey' works.
func TestSecretRecipientsChangedByHand(t *testing.T) {
	e := newSecretEnv(t)
	e.writeSpec("vault_db_password")
	alice, alicePub := e.keygen("alice")
	_, bobPub := e.keygen("bob")
	mallory, malloryPub := e.keygen("mallory")
	e.useKey(alice)
	e.ok("correct-horse-battery\n", "secret", "set", "production", "vault_db_password", "--recipient", alicePub+"=alice")
	e.ok("", "validate", "--repo", e.repo)
	good := e.file("production")

	e.writeFile("production", strings.Replace(good, "secrets:\n", "  - "+malloryPub+"  # ci\nsecrets:\n", 1))
	tampered := e.file("production")
	path := filepath.Join(e.repo, "secrets", "production.yaml")
	msg := "tend: error: the recipients of " + path + " were changed without a key: the file lists 2 recipients, but vault_db_password (line 6) was encrypted to 1"
	hint := "tend: hint: recipients are changed with 'tend secret rekey production --add/--remove' by a holder of a key"
	confirm := "'tend secret rekey production --confirm-recipients'"

	// Without a key: set and import would encrypt to mallory; validate in CI.
	delete(e.env, "TEND_AGE_KEY_FILE")
	e.fails(ExitFailure, "new-value-123\n", []string{"secret", "set", "production", "vault_new"}, msg, hint, confirm)
	pw := filepath.Join(e.home, "pw")
	os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600)
	vault, _ := filepath.Abs("../secret/testdata/vault-1.1.yml")
	e.fails(ExitFailure, "", []string{"secret", "import-ansible-vault", "production", vault, "--password-file", pw}, msg, hint)
	e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo}, msg, confirm)

	// With a key.
	e.useKey(alice)
	e.env["EDITOR"] = "true"
	for _, args := range [][]string{
		{"secret", "set", "production", "vault_new"},
		{"secret", "get", "production", "vault_db_password"},
		{"secret", "edit", "production"},
		{"secret", "rekey", "production", "--add", bobPub},
		{"secret", "rekey", "production", "--remove", malloryPub},
	} {
		e.fails(ExitFailure, "new-value-123\n", args, msg, hint)
	}
	e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo}, msg)
	if e.file("production") != tampered {
		t.Fatal("a refused command changed the secret file")
	}
	// Mallory holds a key listed in the file, but the value was not
	// encrypted to it.
	e.useKey(mallory)
	e.fails(ExitFailure, "", []string{"secret", "get", "production", "vault_db_password"}, msg)

	// Through the command, by a holder of a key.
	e.writeFile("production", good)
	e.useKey(alice)
	e.ok("", "secret", "rekey", "production", "--add", bobPub+"=bob", "--add", malloryPub+"=mallory")
	e.ok("", "validate", "--repo", e.repo)
	e.useKey(mallory)
	if got := e.ok("", "secret", "get", "production", "vault_db_password"); got != "correct-horse-battery\n" {
		t.Errorf("mallory, added by rekey, reads %q", got)
	}
	delete(e.env, "TEND_AGE_KEY_FILE")
	e.ok("", "validate", "--repo", e.repo)

	// Replacing bob's key by another keeps the count: validate without a
	// key cannot see it and says so; with a key it is refused.
	withBob := e.file("production")
	_, evePub := e.keygen("eve")
	e.writeFile("production", strings.Replace(withBob, bobPub, evePub, 1))
	_, errOut, code := e.run("", "validate", "--repo", e.repo)
	if code != 0 || !strings.Contains(errOut, "the recipients of secret files were only counted (a key replaced by another goes unseen)") {
		t.Errorf("keyless validate of a swapped key: exit %d\n%s", code, errOut)
	}
	e.useKey(alice)
	swapped := "the recipients of " + path + " were changed without a key: vault_db_password (line 7) was encrypted to another list of recipients than the file's"
	e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo}, swapped)
	e.fails(ExitFailure, "x-value-123\n", []string{"secret", "set", "production", "vault_new"}, swapped, hint)

	// After checking the list, a holder of a key accepts it.
	_, errOut, _ = e.run("", "secret", "rekey", "production", "--confirm-recipients")
	if !strings.Contains(errOut, evePub) || strings.Contains(errOut, bobPub) {
		t.Errorf("rekey --confirm-recipients does not list the recipients it accepted:\n%s", errOut)
	}
	e.ok("", "validate", "--repo", e.repo)
}

// TestSecretLegacyFile: a file written by the previous tend, whose values
// are bound to no recipient list, still works; validate says how to bind
// them, and rekey --confirm-recipients does.
func TestSecretLegacyFile(t *testing.T) {
	e := newSecretEnv(t)
	e.writeSpec("vault_a")
	legacy, err := os.ReadFile("../secret/testdata/legacy-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.writeFile("production", string(legacy))
	key := filepath.Join(e.home, "alice.key")
	os.WriteFile(key, []byte("AGE-SECRET-KEY-1SMLHZUX4H45C4S26EUM7SWK7CKYTYA2YLQ7G982XNUVGY3YSVWHQ8E7QCP\n"), 0o600)
	e.useKey(key)
	if got := e.ok("", "secret", "get", "production", "vault_b"); got != "beta\n" {
		t.Errorf("get = %q", got)
	}
	note := "were written by an older tend and do not authenticate the recipients"
	_, errOut, code := e.run("", "validate", "--repo", e.repo)
	if code != 0 || !strings.Contains(errOut, "2 of 2 values (vault_a, vault_b) "+note) ||
		!strings.Contains(errOut, "tend secret rekey production --confirm-recipients") {
		t.Errorf("validate: exit %d\n%s", code, errOut)
	}
	_, errOut, _ = e.run("c-value\n", "secret", "set", "production", "vault_c")
	if !strings.Contains(errOut, "2 of 3 values (vault_a, vault_b) "+note) {
		t.Errorf("set on a legacy file: %s", errOut)
	}
	e.ok("", "secret", "rekey", "production", "--confirm-recipients")
	_, errOut, code = e.run("", "validate", "--repo", e.repo)
	if code != 0 || strings.Contains(errOut, note) {
		t.Errorf("validate after --confirm-recipients: exit %d\n%s", code, errOut)
	}
	if got := e.ok("", "secret", "get", "production", "vault_a"); got != "alpha\n" {
		t.Errorf("get = %q", got)
	}
}
