package dir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/hint"
	"tend/internal/store"
	"tend/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-mounted")
	_, err := Open(missing)
	if err == nil {
		t.Fatal("Open of a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), missing) || hint.Of(err) == "" {
		t.Errorf("Open error = %q (hint %q), want the path and a hint", err, hint.Of(err))
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("Open created the directory")
	}
}

// A store whose directory vanishes (an unmounted disk) must not answer
// "not found": PostgreSQL would take that as the end of the archive.
func TestRootGoneIsNotNotFound(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "wal/1", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "wal/1")
	if err == nil || store.IsNotFound(err) {
		t.Errorf("Get with the store directory gone = %v, want an error other than not found", err)
	}
	_, err = s.Stat(ctx, "wal/1")
	if err == nil || store.IsNotFound(err) {
		t.Errorf("Stat with the store directory gone = %v, want an error other than not found", err)
	}
	if err := s.Delete(ctx, "wal/1"); err == nil {
		t.Error("Delete with the store directory gone succeeded")
	}
	if err := s.List(ctx, "", func(store.Info) error { return nil }); err == nil {
		t.Error("List with the store directory gone succeeded")
	}
}

func TestTempFilesHidden(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a killed writer.
	if err := os.WriteFile(filepath.Join(root, "a", store.TempPrefix+"123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.List(ctx, "", func(i store.Info) error { got = append(got, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "a/b" {
		t.Errorf("List = %q, want [a/b] without the temporary file", got)
	}
}

func TestDeleteRemovesEmptyDirectories(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "x/y/z", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); !os.IsNotExist(err) {
		t.Errorf("empty directory x left behind (stat: %v)", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("root removed: %v", err)
	}
}

func TestFileMode(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "m/k", strings.NewReader("x"), 1, store.PutOptions{CreateOnly: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"m", "m/k"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", p, fi.Mode())
		}
	}
}
