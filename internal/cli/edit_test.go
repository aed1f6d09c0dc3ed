package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// TestEditAndCommandHandler, on a lab host, as a user writes it: a managed
// block goes into /etc/ssh/sshd_config before its first Match, a line sets
// one option, and the rest of the file stays byte for byte (sshd -t still
// accepts it); a command handler notified by both runs once, after the
// service handler declared before it; a second apply changes nothing; the
// block leaving the spec takes it out of the file, and a line with state:
// absent removes the option.
func TestEditAndCommandHandler(t *testing.T) {
	l := labtest.New(t, 1)
	e := newSecretEnv(t)
	e.forLab()
	l.Run(t, "host1", `printf 'Match User backup\n    ForceCommand internal-sftp\n' >> /etc/ssh/sshd_config; rm -f /root/handled`)
	orig := l.Run(t, "host1", "cat /etc/ssh/sshd_config")
	role := func(block, lineState string) string {
		r := "resources:\n"
		if block != "" {
			r += "  - block: hardening\n    path: /etc/ssh/sshd_config\n    insert_before: '^Match\\s'\n    content: |\n" + block +
				"    notify: [count, check-sshd]\n"
		}
		r += "  - line: alive\n    path: /etc/ssh/sshd_config\n    match: '^#?ClientAliveInterval\\s'\n    text: ClientAliveInterval 300\n" +
			"    notify: [check-sshd, count]\n" + lineState
		return r + "handlers:\n  count: {command: \"echo ran >> /root/handled\"}\n  check-sshd: {command: \"sshd -t && echo checked >> /root/handled\"}\n"
	}
	write := func(roleText string) {
		for name, text := range map[string]string{
			"tend.yaml":                    "name: edit\n",
			"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [ssh]}\n",
			"roles/ssh/role.yaml":          roleText,
		} {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
		}
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	write(role("      X11Forwarding no\n      AllowAgentForwarding no\n", ""))
	planOut, _, code := e.run("", append([]string{"plan", "production"}, lab...)...)
	if code != ExitChanges || !strings.Contains(planOut, "+# BEGIN tend block hardening") || !strings.Contains(planOut, "+ClientAliveInterval 300") {
		t.Errorf("plan: exit %d, want the block and the line in a diff:\n%s", code, planOut)
	}
	e.ok("", append([]string{"apply", "production"}, lab...)...)

	got := l.Run(t, "host1", "cat /etc/ssh/sshd_config")
	block := "# BEGIN tend block hardening\nX11Forwarding no\nAllowAgentForwarding no\n# END tend block hardening\n"
	i := strings.Index(orig, "Match User backup")
	want := strings.Replace(orig[:i], "#ClientAliveInterval 0\n", "ClientAliveInterval 300\n", 1) + block + orig[i:]
	if !strings.Contains(orig, "#ClientAliveInterval 0\n") {
		want = orig[:i] + block + orig[i:] + "ClientAliveInterval 300\n"
	}
	if got != want {
		t.Errorf("sshd_config after apply:\n%s\nwant:\n%s", got, want)
	}
	if h := l.Run(t, "host1", "cat /root/handled"); h != "ran\nchecked\n" {
		t.Errorf("handlers ran %q, want each once, count (declared first) then check-sshd", h)
	}
	e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing to change

	// The block leaves the spec: it leaves the file; the line stays.
	write(role("", ""))
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	if got := l.Run(t, "host1", "cat /etc/ssh/sshd_config"); got != strings.Replace(want, block, "", 1) {
		t.Errorf("after the block left the spec:\n%s", got)
	}
	// state: absent removes the option's lines.
	write(role("", "    state: absent\n"))
	e.ok("", append([]string{"apply", "production"}, lab...)...)
	if got := l.Run(t, "host1", "cat /etc/ssh/sshd_config"); strings.Contains(got, "ClientAliveInterval") {
		t.Errorf("after state: absent the option is still there:\n%s", got)
	}
}
