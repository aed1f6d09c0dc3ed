package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// TestRunAndSerial, on three lab hosts: tend run prints each host's
// output as one block under its name and exit code, in the hosts' order,
// and fails when the command fails on any host; apply --serial 1 stops
// after the first failing host and leaves the hosts after it untouched.
func TestRunAndSerial(t *testing.T) {
	l := labtest.New(t, 3)
	e := newSecretEnv(t)
	e.forLab()
	for name, text := range map[string]string{
		"tend.yaml": "name: roll\n",
		"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [app]}\n" +
			"  host2: {address: 192.0.2.2, roles: [app, broken]}\n  host3: {address: 192.0.2.3, roles: [app]}\n",
		"roles/app/role.yaml":    "resources:\n  - file: /etc/tend-rolled\n    content: \"v1\\n\"\n",
		"roles/broken/role.yaml": "resources:\n  - service: tend-no-such-unit\n    running: true\n",
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644)
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}

	// Each host writes to stdout and stderr; the blocks come in the hosts'
	// order even though host1 answers last.
	out := e.ok("", append(append([]string{"run", "production"}, lab...), "--", `[ "$(hostname)" = host1 ] && sleep 0.3; echo out-$(hostname); echo err-$(hostname) >&2`)...)
	want := ""
	for _, h := range []string{"host1", "host2", "host3"} {
		want += "== " + h + ": exit 0\nout-" + h + "\nerr-" + h + "\n"
	}
	if out != want {
		t.Errorf("tend run printed:\n%s\nwant:\n%s", out, want)
	}
	// A command failing on one host: its code in its header, exit 1.
	outJSON, errOut, code := e.run("", append(append([]string{"run", "production", "--json"}, lab...), "--", `test $(hostname) != host2 || exit 7`)...)
	if code != 1 || !strings.Contains(errOut, "failed on 1 of 3 hosts") {
		t.Errorf("tend run with a failing host: exit %d\n%s", code, errOut)
	}
	exits := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(outJSON), "\n") {
		var r struct {
			Host string
			Exit int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
		exits[r.Host] = r.Exit
	}
	if exits["host1"] != 0 || exits["host2"] != 7 || exits["host3"] != 0 {
		t.Errorf("exit codes per host: %v", exits)
	}

	// A rolling apply: host1 converges, host2 fails, host3 is not touched.
	e.fails(1, "", append([]string{"apply", "production", "--serial", "1"}, lab...), "host3: not started: host2 failed in an earlier batch")
	for host, want := range map[string]string{"host1": "v1\n", "host2": "v1\n", "host3": "none\n"} {
		got := l.Run(t, host, "cat /etc/tend-rolled 2>/dev/null || echo none")
		if got != want {
			t.Errorf("%s after apply --serial 1: /etc/tend-rolled %q, want %q", host, got, want)
		}
	}
}
