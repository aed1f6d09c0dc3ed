package ansible

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, text := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPrecedenceAndMerges: Ansible's variable order (an INI [group:vars]
// is below group_vars/all), several authorized_key tasks for one user as
// one resource, a second declaration of one package reported, become_user
// reported where tend cannot honour it.
func TestPrecedenceAndMerges(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"inventories/prod/hosts": "[web]\nw1 ansible_host=192.0.2.1 port=81\nw2 ansible_host=192.0.2.2\n[web:vars]\ncolour=blue\nsize=2\n",
		"group_vars/all.yml":     "colour: red\nsize: 1\n",
		"group_vars/web.yml":     "size: 3\n",
		"site.yml":               "- hosts: web\n  roles: [app]\n",
		"roles/app/tasks/main.yml": `- authorized_key: user=root key="ssh-ed25519 AAAA1 a"
- authorized_key: user=root key="ssh-ed25519 AAAA2 b"
- apt: name=jq
- name: again
  apt: name=jq
- name: as deploy
  file: path=/srv/x state=directory
  become_user: deploy
`,
	})
	res, err := Convert(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := string(res.Files["environments/prod.yaml"])
	for _, want := range []string{"colour: red", "size: 3", "port: 81"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %q:\n%s", want, env)
		}
	}
	role := string(res.Files["roles/app/role.yaml"])
	if !strings.Contains(role, "- ssh-ed25519 AAAA1 a\n        - ssh-ed25519 AAAA2 b") {
		t.Errorf("keys not merged:\n%s", role)
	}
	var report []string
	for _, p := range res.Problems {
		report = append(report, p.String())
	}
	r := strings.Join(report, "\n")
	for _, want := range []string{
		`roles/app/tasks/main.yml:4: task "again" (apt): package:jq is declared by an earlier task`,
		`roles/app/tasks/main.yml:6: task "as deploy" (file): become_user deploy`,
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
}

// FuzzTemplate: whatever Jinja comes in, the converted text parses as a
// Go template (what is not converted is kept as literal text).
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{{ a }}", "{% if a %}x{% endif %}", "{% for k, v in m.items() %}{{ k }}{% endfor %}", "{{ a | default('x') }}", "{{ `x` }}", "{% endif %}", "{{ lookup('x') }}", "{#c#}\n"} {
		f.Add(s)
	}
	funcs := template.FuncMap{}
	for _, n := range []string{"default", "join", "upper", "lower", "trim", "squote", "to_json", "to_yaml", "b64enc", "b64dec", "replace", "indent"} {
		funcs[n] = func(...any) string { return "" }
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, _ := convertTemplate(src, scope{}, func(string) (bool, bool) { return true, true })
		if _, err := template.New("t").Funcs(funcs).Parse(out); err != nil {
			if !strings.Contains(src, "{{") && !strings.Contains(src, "{%") {
				t.Fatalf("plain text %q became %q: %v", src, out, err)
			}
			t.Fatalf("%q converted to %q, which does not parse: %v", src, out, err)
		}
	})
}
