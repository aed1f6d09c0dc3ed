package pitr

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"tend/internal/store"
	"tend/internal/store/dir"
	"tend/internal/store/storetest"
)

// segSize is the segment size the tests use: PostgreSQL's default.
const segSize = DefaultSegmentSize

// segName is the name of segment no on timeline 1.
func segName(no uint64) string { return Segment{TLI: 1, No: no}.Name(segSize) }

// lsnIn is an LSN off bytes into segment no.
func lsnIn(no uint64, off int64) LSN { return LSN(no*uint64(segSize) + uint64(off)) }

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newDirStore is an empty directory store in a temporary directory.
func newDirStore(t *testing.T) store.Store {
	t.Helper()
	st, err := dir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newArchive is an archive in st sealed to a fresh identity, which it can
// also read.
func newArchive(t *testing.T, st store.Store) *Archive {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return &Archive{Store: st, Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}, SegSize: segSize}
}

// forEachStore runs f as a subtest against the directory store and a real
// S3 server (versitygw, started once for that subtest); f's newStore gives
// an empty store each time it is called.
func forEachStore(t *testing.T, f func(t *testing.T, newStore func(t *testing.T) store.Store)) {
	t.Run("dir", func(t *testing.T) { f(t, newDirStore) })
	t.Run("versitygw", func(t *testing.T) {
		srv := storetest.StartS3(t, "versitygw")
		f(t, func(t *testing.T) store.Store { return srv.NewStore(t) })
	})
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPush(t *testing.T, a *Archive, name string, data []byte) {
	t.Helper()
	if err := a.Push(testCtx(t), name, data); err != nil {
		t.Fatalf("push %s: %v", name, err)
	}
}

// getObject reads a stored object's raw (sealed) bytes.
func getObject(t *testing.T, st store.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(testCtx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putObject replaces a stored object's raw bytes, as damage would.
func putObject(t *testing.T, st store.Store, key string, data []byte) {
	t.Helper()
	if err := st.Put(testCtx(t), key, bytes.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// keysUnder lists the keys under prefix.
func keysUnder(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := st.List(testCtx(t), prefix, func(i store.Info) error {
		out = append(out, i.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// countingStore records the writes and reads that reach a store.
type countingStore struct {
	store.Store
	mu   sync.Mutex
	puts []string
	gets []string
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	c.mu.Lock()
	c.puts = append(c.puts, key)
	c.mu.Unlock()
	return c.Store.Put(ctx, key, r, size, opts)
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets = append(c.gets, key)
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

// reset forgets what was counted and returns it.
func (c *countingStore) reset() (puts, gets []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	puts, gets = c.puts, c.gets
	c.puts, c.gets = nil, nil
	return puts, gets
}
