package swap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/resource/sysctl"
	"tend/internal/testenv"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		fmt  string
	}{
		{"512M", 512 << 20, "512M"},
		{"1G", 1 << 30, "1G"},
		{"2048K", 2 << 20, "2M"},
		{"1536M", 1536 << 20, "1536M"},
		{"40961", 40961, "40961"},
		{"0", 0, ""},
		{"-1G", 0, ""},
		{"1T", 0, ""},
		{"G", 0, ""},
		{"99999999999G", 0, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("ParseSize = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSize = %d, %v, want %d", got, err, tc.want)
			}
			if f := FormatSize(got); f != tc.fmt {
				t.Errorf("FormatSize = %q, want %q", f, tc.fmt)
			}
		})
	}
}

func TestFstab(t *testing.T) {
	const want = "/swapfile none swap sw 0 0\n"
	for _, tc := range []struct {
		name, in, have, out string
	}{
		{"empty", "", "", want},
		{"append", "# comment\nUUID=x / ext4 defaults 0 1\n", "", "# comment\nUUID=x / ext4 defaults 0 1\n" + want},
		{"no final newline", "UUID=x / ext4 defaults 0 1", "", "UUID=x / ext4 defaults 0 1\n" + want},
		{"present", "UUID=x / ext4 defaults 0 1\n" + want, "/swapfile none swap sw 0 0", "UUID=x / ext4 defaults 0 1\n" + want},
		{"other swap options kept", "/swapfile  none  swap  sw,pri=5  0 0\n", "/swapfile  none  swap  sw,pri=5  0 0", "/swapfile  none  swap  sw,pri=5  0 0\n"},
		{"not swap", "/swapfile /mnt ext4 loop 0 0\n", "/swapfile /mnt ext4 loop 0 0", want},
		{"duplicate", want + "/swapfile none swap defaults 0 0\n", "/swapfile none swap sw 0 0", want},
		{"commented out", "#/swapfile none swap sw 0 0\n", "", "#/swapfile none swap sw 0 0\n" + want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have, out := Fstab(tc.in, "/swapfile")
			if have != tc.have || out != tc.out {
				t.Errorf("Fstab = %q, %q; want %q, %q", have, out, tc.have, tc.out)
			}
		})
	}
	if got := FstabLine("/my swap"); got != `/my\040swap none swap sw 0 0` {
		t.Errorf("FstabLine = %q", got)
	}
	if have, _ := Fstab(`/my\040swap none swap sw 0 0`+"\n", "/my swap"); have == "" {
		t.Errorf("an escaped path is not found")
	}
}

func TestActive(t *testing.T) {
	swaps := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile                               file\t\t1048572\t\t0\t\t-2\n/my\\040swap file 1 0 -3\n"
	for path, want := range map[string]bool{"/swapfile": true, "/my swap": true, "/swap": false} {
		if got := Active(swaps, path); got != want {
			t.Errorf("Active(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestCheckApply converges a swap file in a temporary directory as in a
// container (no swapon), with the real mkswap, then finds nothing to do.
func TestCheckApply(t *testing.T) {
	_, err := exec.LookPath("mkswap")
	testenv.Need(t, "mkswap (util-linux)", err)
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (the swap file belongs to root)", os.ErrPermission)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	n := 42
	s := &Swap{
		Path: filepath.Join(dir, "swapfile"), Size: 1 << 20, Swappiness: &n,
		Fstab:     write("fstab", "UUID=x / ext4 defaults 0 1\n"),
		ProcSwaps: write("swaps", "Filename Type Size Used Priority\n"),
		Sysctl:    sysctl.Roots{Proc: filepath.Join(dir, "proc"), Etc: filepath.Join(dir, "etc")},
		Container: func(context.Context) (bool, error) { return true, nil },
	}
	write("proc/vm/swappiness", "60\n")
	ctx := context.Background()
	c, err := s.Check(ctx)
	if err != nil || c == nil || c.Action != "create" {
		t.Fatalf("Check: %+v, %v", c, err)
	}
	if err := s.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Check(ctx); c != nil || err != nil {
		t.Fatalf("Check after Apply: %s, %v", c.Summary(), err)
	}
	if ok, err := HasSignature(s.Path); !ok || err != nil {
		t.Errorf("HasSignature: %v, %v", ok, err)
	}
	fi, err := os.Stat(s.Path)
	if err != nil || fi.Size() != 1<<20 || fi.Mode().Perm() != 0o600 {
		t.Errorf("swap file: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(s.Fstab)
	if !strings.HasSuffix(string(b), s.Path+" none swap sw 0 0\n") {
		t.Errorf("fstab: %q", b)
	}
	// The live value is left alone in a container.
	if b, _ := os.ReadFile(filepath.Join(dir, "proc/vm/swappiness")); string(b) != "60\n" {
		t.Errorf("live swappiness: %q", b)
	}
	// Lose the signature: made again.
	f, err := os.OpenFile(s.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, os.Getpagesize()), 0)
	f.Close()
	if c, err := s.Check(ctx); err != nil || c == nil || !strings.HasPrefix(c.Summary(), "signature none -> swap, ") {
		t.Fatalf("Check without a signature: %+v, %v", c, err)
	}
}

func TestFstabWithout(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/dev/sda1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n", "/dev/sda1 / ext4 defaults 0 1\n"},
		{"/swapfile none swap sw,pri=5 0 0\n/dev/sda1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0", "/dev/sda1 / ext4 defaults 0 1\n"},
		{"# /swapfile none swap sw 0 0\n/swapfile2 none swap sw 0 0\n", "# /swapfile none swap sw 0 0\n/swapfile2 none swap sw 0 0\n"},
		{"", ""},
	} {
		if got := FstabWithout(tc.in, "/swapfile"); got != tc.want {
			t.Errorf("FstabWithout(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got, want := FstabWithout("/my\\040swap none swap sw 0 0\n", "/my swap"), ""; got != want {
		t.Errorf("escaped path: %q", got)
	}
}
