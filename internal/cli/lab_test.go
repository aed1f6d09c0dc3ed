package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestLabMissingTools: without the lab's tools, up names them and the
// apt-get line that installs them, and creates nothing.
func TestLabMissingTools(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the root check comes first; this test needs root to reach the tool check")
	}
	state := t.TempDir()
	t.Setenv("PATH", t.TempDir()) // an empty folder: no tool at all
	t.Setenv("TEND_LAB_DIR", state)
	var out, errb bytes.Buffer
	code := Main([]string{"lab", "up", "--lab", "nt"}, nil, &out, &errb)
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFailure, errb.String())
	}
	want := "tend: error: the lab needs debootstrap, dpkg-scanpackages, ip, systemd-nspawn, unshare, not found in PATH\n" +
		"tend: hint: install with: apt-get install -y debootstrap dpkg-dev iproute2 systemd-container util-linux\n"
	if errb.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
	}
	if entries, _ := os.ReadDir(state); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a failed up created %s", strings.Join(names, ", "))
	}
}
