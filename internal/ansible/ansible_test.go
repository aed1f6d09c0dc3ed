package ansible

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Sample copies testdata/foi into a temporary directory and encrypts its
// vault file with the real ansible-vault, as the FOI site's repository
// holds one; it returns the directory and the vault password's file.
func Sample(t *testing.T) (dir, passwordFile string) {
	t.Helper()
	bin, err := exec.LookPath("ansible-vault")
	testenv.Need(t, "ansible-vault (apt-get install ansible)", err)
	dir = filepath.Join(t.TempDir(), "foi")
	if out, err := exec.Command("cp", "-r", "testdata/foi", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	passwordFile = filepath.Join(filepath.Dir(dir), "vault-pass")
	os.WriteFile(passwordFile, []byte("correct horse\n"), 0o600)
	vault := filepath.Join(dir, "group_vars", "all", "vault.yml")
	plain, _ := os.ReadFile("testdata/vault-plain.yml")
	os.WriteFile(vault, plain, 0o600)
	home := t.TempDir()
	cmd := exec.Command(bin, "encrypt", "--vault-password-file", passwordFile, vault)
	cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_LOCAL_TEMP="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-vault encrypt: %v\n%s", err, out)
	}
	// an inline !vault value beside plain ones
	cmd = exec.Command(bin, "encrypt_string", "--vault-password-file", passwordFile, "--name", "backup_key", "0123456789abcdef")
	cmd.Env = cmd.Env[:0]
	cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_LOCAL_TEMP="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible-vault encrypt_string: %v", err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, "group_vars", "webservers.yml"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(out)
	f.Close()
	return dir, passwordFile
}

// TestConvertSample converts the FOI-shaped sample and compares every
// written file and the report with the golden ones in testdata/foi.golden.
func TestConvertSample(t *testing.T) {
	dir, pw := Sample(t)
	res, err := Convert(dir, Options{VaultPassword: []byte("correct horse"), EnvMap: map[string]string{"staging": "stage"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = pw
	var report []string
	for _, p := range res.Problems {
		report = append(report, p.String())
	}
	got := map[string]string{"report.txt": strings.Join(report, "\n") + "\n"}
	for p, b := range res.Files {
		got[p] = string(b)
	}
	golden := "testdata/foi.golden"
	if *update {
		os.RemoveAll(golden)
		for p, text := range got {
			os.MkdirAll(filepath.Join(golden, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(golden, p), []byte(text), 0o644)
		}
	}
	want := map[string]string{}
	filepath.WalkDir(golden, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(golden, p)
			want[rel] = string(b)
		}
		return nil
	})
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("converted repository (-want +got), refresh with -update:\n%s", d)
	}
	// secrets: the vault file's and the !vault value's, never in a file
	for _, env := range []string{"production", "stage"} {
		var names []string
		for n, v := range res.Secrets[env] {
			names = append(names, n)
			for p, b := range res.Files {
				if strings.Contains(string(b), v.Reveal()) {
					t.Errorf("%s holds the value of %s in clear", p, n)
				}
			}
		}
		sort.Strings(names)
		if d := cmp.Diff([]string{"vault_backup_key", "vault_db_password", "vault_smtp_password"}, names); d != "" {
			t.Errorf("%s secrets (-want +got):\n%s", env, d)
		}
	}
	// every unconverted task is named with its file and line
	for _, want := range []string{
		`roles/foi/tasks/main.yml:98: task "wait for the application" (shell): register`,
		`roles/foi/tasks/main.yml:104: task "migrate" (command): a command without creates`,
		`roles/foi/tasks/main.yml:107: task "say hello" (debug): module debug is not converted`,
		`roles/foi/tasks/main.yml:109: task "restart nginx now" (service): state restarted is an action`,
		`site.yml:1: role anxs.postgresql: not in roles/`,
		`roles/foi/templates/foi.conf.j2:16: template expression {{ lookup('pipe', 'uptime') }}`,
	} {
		if !strings.Contains(got["report.txt"], want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestTemplateConversion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{{ a }}", "{{ .a }}"},
		{"{{ a.b | default('x') | upper }}", `{{ .a.b | default "x" | upper }}`},
		{"{{ l | join(', ') }}", `{{ .l | join ", " }}`},
		{"{{ p | quote }}", "{{ .p | squote }}"},
		{"{% if x == 'y' %}\nA\n{% endif %}\n", "{{ if eq .x \"y\" }}A\n{{ end }}"},
		{"{% for k, v in m.items() %}{{ k }}={{ v.x }}{% endfor %}", "{{ range $k, $v := .m }}{{ $k }}={{ $v.x }}{{ end }}"},
		{"{{- a -}}", "{{- .a -}}"},
		{"{{ vault_pw }}", "{{ .pw }}"},
		{"{{ inventory_hostname }}", "{{ .host.name }}"},
		{"{{ a | regex_replace('x', 'y') }}", `{{"{{ a | regex_replace('x', 'y') }}"}}`},
	} {
		got, _ := convertTemplate(tc.in, scope{}, nil)
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConditions(t *testing.T) {
	def := func(n string) (bool, bool) { return n == "known", true }
	for _, tc := range []struct{ in, want string }{
		{"a == 'b'", `eq .a "b"`},
		{"a != 1", "ne .a 1"},
		{"flag", ".flag"},
		{"not flag", "not (.flag)"},
		{"known is defined", "true"},
		{"other is defined", "false"},
		{"a and b > 1", "and (.a) (gt .b 1)"},
		{"ansible_distribution == 'Debian'", `eq .facts.os.id "debian"`},
	} {
		got, err := scope{}.cond(tc.in, def)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := (scope{}).cond("x in y", def); err == nil {
		t.Error("x in y converted")
	}
}
