package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRun runs git in dir, failing the test on error.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRoleFetch: a role shared from another git repository (a real one,
// made here), pinned at a tag: fetch vendors it and records the commit;
// the repository validates and compiles with it; a hand edit of the
// vendored role, a tag moved in the other repository, and a role imported
// but not fetched are each refused with what to do; --update takes the
// moved tag.
func TestRoleFetch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	shared := t.TempDir()
	gitRun(t, shared, "init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(shared, "roles/postgresql/templates"), 0o755)
	os.WriteFile(filepath.Join(shared, "roles/postgresql/role.yaml"), []byte("vars:\n  pg_port: 5432\nresources:\n  - file: /etc/pg-port\n    template: port.tmpl\n"), 0o644)
	os.WriteFile(filepath.Join(shared, "roles/postgresql/templates/port.tmpl"), []byte("port {{.pg_port}}\n"), 0o644)
	gitRun(t, shared, "add", ".")
	gitRun(t, shared, "commit", "-q", "-m", "v1")
	gitRun(t, shared, "tag", "v1")
	c1 := gitRun(t, shared, "rev-parse", "HEAD")

	e := newSecretEnv(t)
	for name, text := range map[string]string{
		"tend.yaml":                    "name: user\nimports:\n  postgresql: {git: \"" + shared + "\", ref: v1}\n",
		"environments/production.yaml": "hosts:\n  db: {address: 192.0.2.1, roles: [postgresql]}\n",
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
	}
	e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo}, "tend.yaml:3:3: imports: role postgresql is not fetched yet: run tend role fetch")
	out := e.ok("", "role", "fetch", "--repo", e.repo)
	if out != "postgresql "+c1+" vendored\n" {
		t.Errorf("fetch printed %q", out)
	}
	lock, _ := os.ReadFile(filepath.Join(e.repo, "tend.lock"))
	if !strings.Contains(string(lock), `"commit": "`+c1+`"`) || !strings.Contains(string(lock), `"ref": "v1"`) {
		t.Errorf("tend.lock:\n%s", lock)
	}
	e.ok("", "validate", "--repo", e.repo)
	if out := e.ok("", "role", "fetch", "--repo", e.repo); out != "postgresql "+c1+" unchanged\n" {
		t.Errorf("a second fetch printed %q", out)
	}

	// Edited by hand: refused, with how to restore it.
	vendored := filepath.Join(e.repo, "vendor/roles/postgresql/templates/port.tmpl")
	os.WriteFile(vendored, []byte("port 6543\n"), 0o644)
	e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo}, "vendor/roles/postgresql: vendored role postgresql differs from what tend role fetch took from", "commit "+c1[:12])
	e.ok("", "role", "fetch", "--repo", e.repo)
	if b, _ := os.ReadFile(vendored); string(b) != "port {{.pg_port}}\n" {
		t.Errorf("fetch did not restore the vendored file: %q", b)
	}

	// The tag moves in the shared repository: refused until --update.
	os.WriteFile(filepath.Join(shared, "roles/postgresql/role.yaml"), []byte("vars:\n  pg_port: 5433\nresources:\n  - file: /etc/pg-port\n    template: port.tmpl\n"), 0o644)
	gitRun(t, shared, "commit", "-q", "-am", "v1 again")
	gitRun(t, shared, "tag", "-f", "v1")
	c2 := gitRun(t, shared, "rev-parse", "HEAD")
	e.fails(1, "", []string{"role", "fetch", "--repo", e.repo}, "v1 now resolves to commit "+c2[:12], "tend role fetch --update postgresql")
	e.ok("", "role", "fetch", "--update", "--repo", e.repo)
	e.ok("", "validate", "--repo", e.repo)
	if b, _ := os.ReadFile(filepath.Join(e.repo, "vendor/roles/postgresql/role.yaml")); !strings.Contains(string(b), "5433") {
		t.Errorf("--update did not vendor the moved tag's role:\n%s", b)
	}
}
