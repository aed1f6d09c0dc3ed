package pitr

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakePGWAL makes a pg_wal directory holding segments first..last, each
// marked ready in archive_status, and returns it with their contents.
func fakePGWAL(t *testing.T, first, last uint64) (string, map[string][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pg_wal")
	if err := os.MkdirAll(filepath.Join(dir, "archive_status"), 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for no := first; no <= last; no++ {
		n := segName(no)
		files[n] = randomBytes(t, 3000)
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "archive_status", n+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// archived does what PostgreSQL does once archive_command succeeded.
func archived(t *testing.T, walDir, name string) {
	t.Helper()
	st := filepath.Join(walDir, "archive_status", name)
	if err := os.Rename(st+".ready", st+".done"); err != nil {
		t.Fatal(err)
	}
}

func walKeys(t *testing.T, a *Archive) []string {
	t.Helper()
	wal, err := a.WAL(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range wal {
		names = append(names, o.Name)
	}
	return names
}

func TestPushReady(t *testing.T) {
	ctx := testCtx(t)
	cs := &countingStore{Store: newDirStore(t)}
	a := newArchive(t, cs)
	walDir, files := fakePGWAL(t, 1, 6)
	c := &Config{StateDir: t.TempDir(), Parallel: 3}
	markers := filepath.Join(c.StateDir, "pushed")

	// PostgreSQL asks for 1: 2 and 3 go along.
	if err := c.PushReady(ctx, a, filepath.Join(walDir, segName(1))); err != nil {
		t.Fatal(err)
	}
	archived(t, walDir, segName(1))
	if got, want := walKeys(t, a), []string{segName(1), segName(2), segName(3)}; !slices.Equal(got, want) {
		t.Fatalf("archived after pushing %s: %q, want %q", segName(1), got, want)
	}
	for _, n := range []string{segName(2), segName(3)} {
		rec, err := os.ReadFile(filepath.Join(markers, n))
		fi, _ := os.Stat(filepath.Join(walDir, n))
		if err != nil || string(rec) != identity(fi) {
			t.Errorf("marker of %s pushed ahead: %q, %v; want its identity %q", n, rec, err, identity(fi))
		}
	}
	if _, err := os.Stat(filepath.Join(markers, segName(1))); err == nil {
		t.Errorf("a marker was left for %s, pushed in the foreground", segName(1))
	}

	// PostgreSQL asks for 2, pushed ahead: no store access at all.
	cs.reset()
	if err := c.PushReady(ctx, a, filepath.Join(walDir, segName(2))); err != nil {
		t.Fatal(err)
	}
	archived(t, walDir, segName(2))
	if puts, gets := cs.reset(); len(puts) != 0 || len(gets) != 0 {
		t.Errorf("pushing a file pushed ahead wrote %q and read %q, want nothing", puts, gets)
	}
	if _, err := os.Stat(filepath.Join(markers, segName(2))); err == nil {
		t.Error("the marker of a file PostgreSQL has now archived is still there")
	}

	// 3 was pushed ahead, but its bytes changed since: pushed again, and
	// refused because the archive holds other bytes under its name.
	changed := randomBytes(t, 3000)
	if err := os.WriteFile(filepath.Join(walDir, segName(3)), changed, 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.PushReady(ctx, a, filepath.Join(walDir, segName(3)))
	if err == nil || !strings.Contains(err.Error(), "different content") {
		t.Fatalf("pushing %s with changed bytes: %v, want a refusal", segName(3), err)
	}
	if got, err := a.Fetch(ctx, segName(3)); err != nil || !bytes.Equal(got, files[segName(3)]) {
		t.Errorf("after the refusal, %s in the archive: %v (original bytes: %v)", segName(3), err, bytes.Equal(got, files[segName(3)]))
	}
	// The refusal still pushed 4 and 5 ahead (3, ready, is not ahead of itself).
	if got, want := walKeys(t, a), []string{segName(1), segName(2), segName(3), segName(4), segName(5)}; !slices.Equal(got, want) {
		t.Fatalf("archived: %q, want %q", got, want)
	}
	// Put the original bytes back: PostgreSQL retries; the file is another
	// version than the one pushed ahead, so it is read and compared: the
	// same bytes are archived, nothing is written for it.
	if err := os.WriteFile(filepath.Join(walDir, segName(3)), files[segName(3)], 0o600); err != nil {
		t.Fatal(err)
	}
	cs.reset()
	if err := c.PushReady(ctx, a, filepath.Join(walDir, segName(3))); err != nil {
		t.Fatal(err)
	}
	archived(t, walDir, segName(3))
	puts, _ := cs.reset()
	for _, k := range puts {
		if strings.Contains(k, segName(3)) {
			t.Errorf("retrying %s with its archived bytes wrote %q", segName(3), k)
		}
	}

	for _, n := range []string{segName(4), segName(5), segName(6)} {
		if err := c.PushReady(ctx, a, filepath.Join(walDir, n)); err != nil {
			t.Fatal(err)
		}
		archived(t, walDir, n)
	}
	for n, data := range files {
		if got, err := a.Fetch(ctx, n); err != nil || !bytes.Equal(got, data) {
			t.Errorf("fetch %s: %v (same bytes: %v)", n, err, bytes.Equal(got, data))
		}
	}
	if ents, _ := os.ReadDir(markers); len(ents) != 0 {
		t.Errorf("markers left after everything was archived: %v", ents)
	}
}

func TestPushReadyNotAhead(t *testing.T) {
	ctx := testCtx(t)
	tests := []struct {
		name     string
		parallel int
		want     []string
	}{
		{"parallel 1", 1, []string{segName(1)}},
		{"parallel 2", 2, []string{segName(1), segName(2)}},
		{"parallel 8 with 3 ready", 8, []string{segName(1), segName(2), segName(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newArchive(t, newDirStore(t))
			walDir, _ := fakePGWAL(t, 1, 3)
			// Not WAL files: never pushed.
			os.WriteFile(filepath.Join(walDir, "archive_status", "junk.ready"), nil, 0o600)
			os.WriteFile(filepath.Join(walDir, "junk"), []byte("x"), 0o600)
			c := &Config{StateDir: t.TempDir(), Parallel: tt.parallel}
			if err := c.PushReady(ctx, a, filepath.Join(walDir, segName(1))); err != nil {
				t.Fatal(err)
			}
			if got := walKeys(t, a); !slices.Equal(got, tt.want) {
				t.Errorf("archived %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("invalid name", func(t *testing.T) {
		a := newArchive(t, newDirStore(t))
		p := filepath.Join(t.TempDir(), "postgresql.conf")
		os.WriteFile(p, []byte("x"), 0o600)
		c := &Config{StateDir: t.TempDir(), Parallel: 2}
		if err := c.PushReady(ctx, a, p); err == nil {
			t.Error("pushing postgresql.conf succeeded")
		}
		if got := walKeys(t, a); len(got) != 0 {
			t.Errorf("archived %q", got)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		a := newArchive(t, newDirStore(t))
		c := &Config{StateDir: t.TempDir(), Parallel: 2}
		if err := c.PushReady(ctx, a, filepath.Join(t.TempDir(), segName(1))); err == nil {
			t.Error("pushing a missing file succeeded")
		}
	})
}

func TestFetchTo(t *testing.T) {
	ctx := testCtx(t)
	cs := &countingStore{Store: newDirStore(t)}
	a := newArchive(t, cs)
	files := map[string][]byte{}
	for no := uint64(1); no <= 6; no++ {
		files[segName(no)] = randomBytes(t, 3000)
		mustPush(t, a, segName(no), files[segName(no)])
	}
	walDir := filepath.Join(t.TempDir(), "pg_wal")
	os.MkdirAll(walDir, 0o700)
	dest := filepath.Join(walDir, "RECOVERYXLOG")
	pre := filepath.Join(walDir, ".tend-prefetch")
	c := &Config{Parallel: 2}
	getsOf := func(gets []string) []string {
		var names []string
		for _, g := range gets {
			n, _, _ := strings.Cut(strings.TrimPrefix(g, walPrefix), "/")
			names = append(names, n)
		}
		slices.Sort(names)
		return names
	}
	prefetched := func() []string {
		ents, _ := os.ReadDir(pre)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	fetch := func(no uint64) {
		t.Helper()
		if err := c.FetchTo(ctx, a, segName(no), dest); err != nil {
			t.Fatalf("fetch %s: %v", segName(no), err)
		}
		if got, _ := os.ReadFile(dest); !bytes.Equal(got, files[segName(no)]) {
			t.Fatalf("fetch %s: the destination holds other bytes", segName(no))
		}
	}

	cs.reset()
	fetch(1)
	if _, gets := cs.reset(); !slices.Equal(getsOf(gets), []string{segName(1), segName(2), segName(3)}) {
		t.Errorf("first fetch read %q, want segments 1 to 3", getsOf(gets))
	}
	if got := prefetched(); !slices.Equal(got, []string{segName(2), segName(3)}) {
		t.Errorf("prefetched %q, want segments 2 and 3", got)
	}
	// Segment 2 comes from the prefetch directory; only 4 is read.
	fetch(2)
	if _, gets := cs.reset(); !slices.Equal(getsOf(gets), []string{segName(4)}) {
		t.Errorf("second fetch read %q, want only segment 4 (2 was prefetched)", getsOf(gets))
	}
	if got := prefetched(); !slices.Equal(got, []string{segName(3), segName(4)}) {
		t.Errorf("prefetched %q, want segments 3 and 4", got)
	}
	fetch(3)
	fetch(4)
	fetch(5)
	fetch(6)
	if got := prefetched(); len(got) != 0 {
		t.Errorf("prefetched past the end of the archive: %q", got)
	}
	err := c.FetchTo(ctx, a, segName(7), dest)
	if !errors.Is(err, ErrAbsent) {
		t.Errorf("fetch past the end: %v, want ErrAbsent", err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, files[segName(6)]) {
		t.Error("a failed fetch changed the destination")
	}

	// A hole: segment 8 missing, 9 archived.
	mustPush(t, a, segName(9), []byte("nine"))
	if err := c.FetchTo(ctx, a, segName(8), dest); !errors.Is(err, ErrGap) {
		t.Errorf("fetch of a missing segment before an archived one: %v, want ErrGap", err)
	}
	if err := c.FetchTo(ctx, a, "../etc/passwd", dest); err == nil || errors.Is(err, ErrAbsent) {
		t.Errorf("fetch of an invalid name: %v", err)
	}
}
