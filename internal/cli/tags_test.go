package cli

import (
	"os"
	"path/filepath"
	"testing"

	"tend/internal/lab/labtest"
)

// TestOnlySkip, on a lab host: --only converges the resources with a tag
// (or of a role) and nothing else, --skip leaves some out, neither
// removes what the part left out lacks, a tag nobody has is a usage error,
// and a full apply then converges and removes as usual.
func TestOnlySkip(t *testing.T) {
	l := labtest.New(t, 1)
	e := newSecretEnv(t)
	e.forLab()
	write := func(a, b string) {
		files := map[string]string{
			"tend.yaml":                    "name: tags\n",
			"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [conf, extra]}\n",
			"roles/conf/role.yaml":         "resources:\n  - file: /etc/tend-a\n    content: \"" + a + "\\n\"\n    tags: [fast]\n  - file: /etc/tend-c\n    content: c\n",
			"roles/extra/role.yaml":        "resources: []\n",
		}
		if b != "" {
			files["roles/extra/role.yaml"] = "resources:\n  - file: /etc/tend-b\n    content: \"" + b + "\\n\"\n"
		}
		for name, text := range files {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
		}
	}
	cat := func(p string) string { return l.Run(t, "host1", "cat "+p+" 2>/dev/null || echo none") }
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	write("a1", "b1")
	e.ok("", append([]string{"apply", "production"}, lab...)...)

	write("a2", "b2")
	e.ok("", append([]string{"apply", "production", "--only", "fast"}, lab...)...)
	if a, b := cat("/etc/tend-a"), cat("/etc/tend-b"); a != "a2\n" || b != "b1\n" {
		t.Errorf("--only fast: a %q b %q, want a2 and b1", a, b)
	}
	e.ok("", append([]string{"apply", "production", "--skip", "conf"}, lab...)...) // the role's name
	if b := cat("/etc/tend-b"); b != "b2\n" {
		t.Errorf("--skip conf: b %q, want b2", b)
	}
	// /etc/tend-b leaves the spec: a partial run keeps it.
	write("a2", "")
	e.ok("", append([]string{"apply", "production", "--only", "fast"}, lab...)...)
	if b := cat("/etc/tend-b"); b != "b2\n" {
		t.Errorf("a run with --only removed what it left out: b %q", b)
	}
	e.fails(ExitUsage, "", append([]string{"plan", "production", "--only", "nosuch"}, lab...), `no resource has the tag "nosuch"`)
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	if b := cat("/etc/tend-b"); b != "none\n" {
		t.Errorf("a full apply kept the file that left the spec: %q", b)
	}
}
