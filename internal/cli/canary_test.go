package cli

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// TestSecretCanaryOnHosts sends a secret with a unique value through
// validate, plan, apply, a failing apply and --json against a real lab host.
// It must appear only in its target file on the host, with mode 0600: never
// in any output, the saved plan, process arguments on the host, or any file
// on this machine.
func TestSecretCanaryOnHosts(t *testing.T) {
	l := labtest.New(t, 1)
	b := make([]byte, 12)
	rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)
	canary2 := canary + "-rotated"

	e := newSecretEnv(t)
	e.forLab()
	files := map[string]string{
		"tend.yaml":                        "name: canary\n",
		"environments/production.yaml":     "secrets:\n  db_password: vault_db_password\nhosts:\n  host1:\n    address: 192.0.2.1\n    roles: [app]\n",
		"roles/app/role.yaml":              "resources:\n  - file: /etc/app/db.conf\n    template: db.conf.tmpl\n  - file: /etc/app/public.conf\n    content: \"port = 80\\n\"\n",
		"roles/app/templates/db.conf.tmpl": "user=app\npassword={{ .db_password }}\n",
	}
	write := func(name, content string) {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		write(name, content)
	}
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok(canary+"\n", "secret", "set", "production", "vault_db_password", "--recipient", pub)

	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	e.ok("", "validate", "--repo", e.repo)
	planFile := filepath.Join(e.home, "plan.json")
	out, _, code := e.run("", append([]string{"plan", "production", "--out", planFile}, lab...)...)
	if code != ExitChanges || !strings.Contains(out, "+ file:/etc/app/db.conf  content (sensitive value changed)") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	e.run("", append([]string{"plan", "production", "--json"}, lab...)...)

	// Watch process arguments on the host while apply runs.
	l.Run(t, "host1", "nohup sh -c 'while :; do ps -eo args >> /root/ps.log; done' >/dev/null 2>&1 & echo $! > /root/ps.pid")
	e.ok("", append([]string{"apply", "production", "--plan", planFile}, lab...)...)
	if got := l.Run(t, "host1", "stat -c %a /etc/app/db.conf; cat /etc/app/db.conf"); got != "600\nuser=app\npassword="+canary+"\n" {
		t.Fatalf("db.conf on the host: %q", got)
	}

	// Rotate the secret: the plan says it changed, shows neither value.
	e.ok(canary2+"\n", "secret", "set", "production", "vault_db_password")
	out, _, code = e.run("", append([]string{"plan", "production"}, lab...)...)
	if code != ExitChanges || !strings.Contains(out, "~ file:/etc/app/db.conf  content (sensitive value changed)") {
		t.Errorf("plan after rotation: exit %d\n%s", code, out)
	}
	// A failing apply (the next resource cannot be written) says nothing of it.
	write("roles/app/role.yaml", files["roles/app/role.yaml"]+"  - file: /etc/app/db.conf/oops\n    content: \"x\\n\"\n")
	_, errOut, code := e.run("", append([]string{"apply", "production", "--json"}, lab...)...)
	if code != ExitFailure || !strings.Contains(errOut, "file:/etc/app/db.conf/oops") {
		t.Errorf("failing apply: exit %d\n%s", code, errOut)
	}
	l.Run(t, "host1", "kill $(cat /root/ps.pid)")
	if got := l.Run(t, "host1", "cat /etc/app/db.conf"); got != "user=app\npassword="+canary2+"\n" {
		t.Fatalf("db.conf after rotation: %q", got)
	}

	// Bad secrets: a key that does not open the file, a truncated file.
	// Each is a clear error, and nothing reaches the host.
	write("roles/app/role.yaml", files["roles/app/role.yaml"])
	l.Run(t, "host1", "echo untouched > /etc/app/public.conf")
	otherKey, _ := e.keygen("intruder")
	e.useKey(otherKey)
	e.fails(ExitFailure, "", append([]string{"apply", "production"}, lab...), "secrets/production.yaml", pub)
	e.useKey(key)
	secrets := filepath.Join(e.repo, "secrets", "production.yaml")
	whole, _ := os.ReadFile(secrets)
	os.WriteFile(secrets, whole[:len(whole)-20], 0o644)
	e.fails(ExitFailure, "", append([]string{"apply", "production"}, lab...), "secrets/production.yaml:")
	os.WriteFile(secrets, whole, 0o644)
	if got := l.Run(t, "host1", "cat /etc/app/public.conf"); got != "untouched\n" {
		t.Errorf("an apply with unreadable secrets changed the host: %q", got)
	}

	// Where the canary must never be.
	for i, o := range e.outputs {
		if strings.Contains(o, canary) {
			t.Errorf("output %d holds the secret:\n%s", i, o)
		}
	}
	if ps := l.Run(t, "host1", "cat /root/ps.log | wc -l; grep -c "+canary+" /root/ps.log || true"); !strings.HasSuffix(ps, "\n0\n") || strings.HasPrefix(ps, "0\n") {
		t.Errorf("process arguments on the host (lines, matches): %q", ps)
	}
	if found := l.Run(t, "host1", "grep -rlsF "+canary+" /etc /root /var/lib/tend /tmp /srv || true"); found != "/etc/app/db.conf\n" {
		t.Errorf("files holding the secret on the host: %q", found)
	}
	for _, dir := range []string{e.repo, e.home, os.TempDir(), l.Config.StateDir} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() && strings.HasPrefix(d.Name(), "go-build") {
				return filepath.SkipDir
			}
			// A lab host's disk is the host's, not this machine's.
			if d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "hosts" {
				return filepath.SkipDir
			}
			if info, err := d.Info(); err != nil || !info.Mode().IsRegular() || info.Size() > 4<<20 {
				return nil
			}
			if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), canary) {
				t.Errorf("%s holds the secret in plain text", path)
			}
			return nil
		})
	}
}
