package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// TestLoopsAndFacts, on a lab host: a declaration repeated over a mapping
// writes one file per item; conditions on the host's facts (gathered by
// plan's own probe) include one resource and leave another out; a template
// sees the facts; the plan after apply is empty (facts are stable); an
// item leaving the mapping leaves the host.
func TestLoopsAndFacts(t *testing.T) {
	l := labtest.New(t, 1)
	e := newSecretEnv(t)
	e.forLab()
	write := func(vhosts string) {
		for name, text := range map[string]string{
			"tend.yaml":                    "name: loops\n",
			"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [web]}\n",
			"roles/web/role.yaml": "vars:\n  vhosts:\n" + vhosts + "resources:\n" +
				"  - file: \"/etc/tend-sites/{{.item.key}}.conf\"\n    for_each: vhosts\n    content: \"server_name {{.item.key}}; root {{.item.value.root}};\\n\"\n" +
				"  - file: /etc/tend-bookworm\n    when: '{{ eq .facts.os.codename \"bookworm\" }}'\n" +
				"    content: \"{{.facts.os.id}} {{.facts.os.version_id}} {{.facts.arch}} cpus>0={{ gt .facts.cpus 0 }} mem>0={{ gt .facts.memory_mb 0 }} {{ .facts.addresses | join \\\",\\\" }}\\n\"\n" +
				"  - file: /etc/tend-bigiron\n    when: '{{ gt .facts.cpus 1000 }}'\n    content: x\n",
		} {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
		}
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	write("    a.example.org: {root: /srv/a}\n    b.example.org: {root: /srv/b}\n")
	e.ok("", append([]string{"validate", "--repo", e.repo})...)
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	if got := l.Run(t, "host1", "ls /etc/tend-sites; cat /etc/tend-sites/b.example.org.conf"); got != "a.example.org.conf\nb.example.org.conf\nserver_name b.example.org; root /srv/b;\n" {
		t.Errorf("files from the loop: %q", got)
	}
	addr := l.Host(t, "host1").Addr
	if got := l.Run(t, "host1", "cat /etc/tend-bookworm"); !strings.HasPrefix(got, "debian 12 amd64 cpus>0=true mem>0=true ") || !strings.Contains(got, addr) {
		t.Errorf("facts in a template: %q (lab address %s)", got, addr)
	}
	if got := l.Run(t, "host1", "test -e /etc/tend-bigiron && echo there || echo absent"); got != "absent\n" {
		t.Errorf("a resource whose condition on a fact is false was applied")
	}
	e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing to change

	write("    a.example.org: {root: /srv/a}\n")
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	if got := l.Run(t, "host1", "ls /etc/tend-sites"); got != "a.example.org.conf\n" {
		t.Errorf("after b left the mapping: %q", got)
	}
}
