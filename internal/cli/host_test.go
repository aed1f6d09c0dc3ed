package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
)

// run calls Main in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRealHostPath uses a lab host as if it were a real server: its address
// in the spec, its key recorded by host trust, the login key from
// --identity. A host that does not answer fails alone; a changed host key
// is refused.
func TestRealHostPath(t *testing.T) {
	l := labtest.New(t, 1)
	bin, err := agentBinaryForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEND_AGENT_BINARY", bin)
	h := l.Host(t, "host1")
	dead := strings.TrimSuffix(h.Addr, ".11") + ".250" // in the lab's subnet, nobody there
	repo := t.TempDir()
	files := map[string]string{
		"tend.yaml":                    "name: real\n",
		"environments/production.yaml": fmt.Sprintf("hosts:\n  web:\n    address: %s\n    roles: [motd]\n  gone:\n    address: %s\n    roles: [motd]\n", h.Addr, dead),
		"roles/motd/role.yaml":         "resources:\n  - file: /etc/motd\n    content: \"hello from tend\\n\"\n",
	}
	for name, content := range files {
		os.MkdirAll(filepath.Join(repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := l.Config.KeyPath(l.State.Name)

	// No pinned key yet: refused, with the command that records it.
	code, _, errs := run(t, "plan", "production", "--repo", repo, "--identity", key, "--limit", "web")
	if code != ExitFailure || !strings.Contains(errs, "no pinned host key in "+filepath.Join(repo, "known_hosts")) ||
		!strings.Contains(errs, "tend: hint: check its fingerprint, then record it: tend host trust production web") {
		t.Fatalf("plan without a pinned key: exit %d\n%s", code, errs)
	}

	code, out, errs := run(t, "host", "trust", "production", "web", "--repo", repo)
	if code != 0 || !strings.Contains(out, "web ("+h.Addr+"): recorded ssh-ed25519 SHA256:") {
		t.Fatalf("host trust: exit %d\n%s%s", code, out, errs)
	}
	known, _ := os.ReadFile(filepath.Join(repo, "known_hosts"))
	if !strings.Contains(string(known), strings.Fields(h.HostKey)[1]) {
		t.Fatalf("known_hosts does not hold the host's key:\n%s", known)
	}
	code, out, _ = run(t, "host", "trust", "production", "web", "--repo", repo)
	if code != 0 || !strings.Contains(out, "already recorded") {
		t.Errorf("second trust: exit %d: %s", code, out)
	}

	// One host unreachable: the other is still applied; exit 1.
	os.WriteFile(filepath.Join(repo, "known_hosts"), append(known, []byte("["+dead+"]:22 "+h.HostKey+"\n")...), 0o644)
	os.WriteFile(filepath.Join(repo, "known_hosts"), append(known, []byte(dead+" "+h.HostKey+"\n")...), 0o644)
	code, out, errs = run(t, "apply", "production", "--repo", repo, "--identity", key)
	if code != ExitFailure || !strings.Contains(out, "Apply: 1 resource(s) changed on 2 host(s), 1 host(s) failed") ||
		!strings.Contains(errs, "host gone: connect "+dead+":22") {
		t.Errorf("apply with one host down: exit %d\n%s%s", code, out, errs)
	}
	if got := l.Run(t, "host1", "cat /etc/motd"); got != "hello from tend\n" {
		t.Errorf("motd = %q", got)
	}

	// A changed host key is refused before anything is sent.
	other := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXzJ6jQ8cSgEJsHuEwb1ya8wH1NdVJmXfBTrTXwtw9U"
	os.WriteFile(filepath.Join(repo, "known_hosts"), []byte(h.Addr+" "+other+"\n"), 0o644)
	l.Run(t, "host1", "echo drift > /etc/motd")
	code, _, errs = run(t, "apply", "production", "--repo", repo, "--identity", key, "--limit", "web")
	if code != ExitFailure || !strings.Contains(errs, "host key mismatch: pinned ssh-ed25519 SHA256:") ||
		!strings.Contains(errs, "tend: hint: if the host was rebuilt, check the new key out of band") {
		t.Errorf("apply with a changed key: exit %d\n%s", code, errs)
	}
	if got := l.Run(t, "host1", "cat /etc/motd"); got != "drift\n" {
		t.Errorf("a host with a changed key was touched: motd = %q", got)
	}
	code, _, errs = run(t, "host", "trust", "production", "web", "--repo", repo)
	if code != ExitFailure || !strings.Contains(errs, "--replace") {
		t.Errorf("trust over a different recorded key: exit %d\n%s", code, errs)
	}
}
