package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A symlink planted under --to (pointing at a file, or at a directory,
// outside it) must not make a restore write outside --to: the link is
// replaced by what the snapshot holds, and the outside is unchanged. Both
// ways of opening beneath the target are exercised: openat2 and the
// component-by-component O_NOFOLLOW fallback.
func TestSnapshotRestoreSymlinkEscape(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "nofollow"
		}
		t.Run(name, func(t *testing.T) {
			noOpenat2 = fallback
			defer func() { noOpenat2 = false }()
			e := newEnv(t, newStore(t, "dir"))
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "a.txt"), []byte("snapshot a"), 0o644)
			write(t, filepath.Join(src, "sub", "b.txt"), []byte("snapshot b"), 0o644)
			os.Symlink("a.txt", filepath.Join(src, "link"))
			sn := e.create(e.host, "web1", "", src)

			outside := t.TempDir()
			victim := filepath.Join(outside, "victim")
			write(t, victim, []byte("outside, keep me"), 0o644)
			outsideDir := filepath.Join(outside, "dir")
			write(t, filepath.Join(outsideDir, "b.txt"), []byte("outside b, keep me"), 0o644)
			linkVictim := filepath.Join(outside, "linkvictim")
			write(t, linkVictim, []byte("outside link target"), 0o644)

			to := t.TempDir()
			at := filepath.Join(to, src)
			if err := os.MkdirAll(at, 0o755); err != nil {
				t.Fatal(err)
			}
			must(t, os.Symlink(victim, filepath.Join(at, "a.txt")))   // a file written through the link
			must(t, os.Symlink(outsideDir, filepath.Join(at, "sub"))) // a directory entered through the link
			must(t, os.Symlink(linkVictim, filepath.Join(at, "link")))

			if _, err := e.admin.Restore(context.Background(), sn, "", to, 0); err != nil {
				t.Fatalf("restore: %v", err)
			}
			for p, want := range map[string]string{
				victim:                             "outside, keep me",
				filepath.Join(outsideDir, "b.txt"): "outside b, keep me",
				linkVictim:                         "outside link target",
			} {
				if got, _ := os.ReadFile(p); string(got) != want {
					t.Errorf("outside file %s changed: %q, want %q", p, got, want)
				}
			}
			if ents, _ := os.ReadDir(outsideDir); len(ents) != 1 {
				t.Errorf("outside directory has %d entries, want 1", len(ents))
			}
			if fi, err := os.Lstat(filepath.Join(at, "a.txt")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("a.txt is not a regular file after restore: %v %v", fi, err)
			}
			if got, _ := os.ReadFile(filepath.Join(at, "a.txt")); string(got) != "snapshot a" {
				t.Errorf("a.txt = %q", got)
			}
			if fi, err := os.Lstat(filepath.Join(at, "sub")); err != nil || !fi.IsDir() {
				t.Errorf("sub is not a directory after restore: %v %v", fi, err)
			}
			if got, _ := os.ReadFile(filepath.Join(at, "sub", "b.txt")); string(got) != "snapshot b" {
				t.Errorf("sub/b.txt = %q", got)
			}
			if tgt, err := os.Readlink(filepath.Join(at, "link")); err != nil || tgt != "a.txt" {
				t.Errorf("link = %q, %v; want the snapshot's a.txt", tgt, err)
			}
			if ents, _ := os.ReadDir(at); len(ents) != 3 {
				t.Errorf("restore left %d entries (temporary files?)", len(ents))
			}

			// A symlink planted as a parent of a partial restore's path is
			// not entered either.
			to2 := t.TempDir()
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(to2, src)), 0o755))
			must(t, os.Symlink(outside, filepath.Join(to2, src)))
			if _, err := e.admin.Restore(context.Background(), sn, src+"/sub", to2, 0); err != nil {
				t.Fatalf("partial restore: %v", err)
			}
			if got, _ := os.ReadFile(filepath.Join(outsideDir, "b.txt")); string(got) != "outside b, keep me" {
				t.Errorf("partial restore wrote outside: %q", got)
			}
			if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
				t.Errorf("partial restore created %s outside --to", filepath.Join(outside, "sub"))
			}

			// An existing parent of a partial restore keeps its mode.
			to3 := t.TempDir()
			must(t, os.MkdirAll(filepath.Join(to3, src), 0o711))
			must(t, os.Chmod(filepath.Join(to3, src), 0o711))
			if _, err := e.admin.Restore(context.Background(), sn, src+"/sub", to3, 0); err != nil {
				t.Fatalf("partial restore: %v", err)
			}
			if fi, _ := os.Stat(filepath.Join(to3, src)); fi == nil || fi.Mode().Perm() != 0o711 {
				t.Errorf("partial restore changed an existing parent: %v", fi)
			}
		})
	}
}

// Names in a tree are untrusted: one that climbs out is refused.
func TestSnapshotRestoreRefusesClimbingNames(t *testing.T) {
	for _, p := range []string{"/a/../b", "/a/./b", "//a", "/a/b\x00c"} {
		if _, _, err := split(p); err == nil || !strings.Contains(err.Error(), "leave the target") {
			t.Errorf("split(%q) = %v, want a refusal", p, err)
		}
	}
	if dir, name, err := split("/var/mail"); err != nil || name != "mail" || len(dir) != 1 {
		t.Errorf("split(/var/mail) = %v %q %v", dir, name, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
