// Package storetest is the conformance suite every store.Store passes, and
// starts real S3 servers (versitygw, rclone) for tests that need one.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/store"
)

// Run runs the conformance suite. newStore must return an empty store,
// independent of every other store it returned, each time it is called.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"ListOrder", testListOrder},
		{"ListStop", testListStop},
		{"GetRange", testGetRange},
		{"Large", testLarge},
		{"CreateOnly", testCreateOnly},
		{"CreateOnlyRace", testCreateOnlyRace},
		{"Delete", testDelete},
		{"OddKeys", testOddKeys},
		{"FailedPut", testFailedPut},
		{"Cancel", testCancel},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s store.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

func list(t *testing.T, s store.Store, prefix string) []store.Info {
	t.Helper()
	var infos []store.Info
	err := s.List(ctxT(t), prefix, func(i store.Info) error {
		infos = append(infos, i)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

func keys(infos []store.Info) []string {
	var ks []string
	for _, i := range infos {
		ks = append(ks, i.Key)
	}
	return ks
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// mustNotExist checks that key is absent, by Stat and by List.
func mustNotExist(t *testing.T, s store.Store, key string) {
	t.Helper()
	if _, err := s.Stat(ctxT(t), key); !store.IsNotFound(err) {
		t.Errorf("Stat(%q) after failed or deleted put = %v, want not found", key, err)
	}
	if ks := keys(list(t, s, key)); slices.Contains(ks, key) {
		t.Errorf("List(%q) = %q, still lists the key", key, ks)
	}
}

func testPutGetStat(t *testing.T, s store.Store) {
	tests := []struct {
		key  string
		data []byte
		size int64 // -1 for unknown
	}{
		{"a", []byte("hello"), 5},
		{"dir/sub/obj", []byte("nested object\n"), 14},
		{"empty", nil, 0},
		{"unknown-size", []byte("size not given"), -1},
		{"binary", []byte{0, 1, 2, 255, '\n', 0}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			before := time.Now().Add(-time.Hour)
			err := s.Put(ctxT(t), tt.key, bytes.NewReader(tt.data), tt.size, store.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := get(t, s, tt.key); !bytes.Equal(got, tt.data) {
				t.Errorf("Get = %q, want %q", got, tt.data)
			}
			info, err := s.Stat(ctxT(t), tt.key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != tt.key || info.Size != int64(len(tt.data)) {
				t.Errorf("Stat = %+v, want key %q size %d", info, tt.key, len(tt.data))
			}
			if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Hour)) {
				t.Errorf("Stat ModTime = %v, want about now", info.ModTime)
			}
		})
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	put(t, s, "k", []byte("first version, longer"))
	put(t, s, "k", []byte("second"))
	if got := string(get(t, s, "k")); got != "second" {
		t.Errorf("after overwrite Get = %q, want %q", got, "second")
	}
	put(t, s, "k", []byte("second")) // idempotent
	if got := keys(list(t, s, "")); !cmp.Equal(got, []string{"k"}) {
		t.Errorf("List = %q, want [k]", got)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	put(t, s, "present/x", []byte("x"))
	for _, key := range []string{"missing", "present/missing", "present", "missing/deeper/key", "present/x/below"} {
		t.Run(key, func(t *testing.T) {
			_, err := s.Get(ctx, key)
			checkNotFound(t, s, "Get", key, err)
			_, err = s.GetRange(ctx, key, 0, 1)
			checkNotFound(t, s, "GetRange", key, err)
			_, err = s.Stat(ctx, key)
			checkNotFound(t, s, "Stat", key, err)
		})
	}
}

func checkNotFound(t *testing.T, s store.Store, op, key string, err error) {
	t.Helper()
	if !store.IsNotFound(err) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s(%q) = %v, want an error wrapping store.ErrNotFound", op, key, err)
		return
	}
	if store.IsExists(err) {
		t.Errorf("%s(%q) = %v: also reports ErrExists", op, key, err)
	}
	if msg := err.Error(); !strings.Contains(msg, key) || !strings.Contains(msg, s.String()) {
		t.Errorf("%s(%q) error %q does not name the key and the store %q", op, key, msg, s.String())
	}
}

func testInvalidKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	bad := []string{"", "/abs", "trail/", "a//b", "..", "../up", "a/../b", "a/./b", ".", "ctl\nnewline",
		"tab\tkey", "nul\x00", "bad\xffutf8", store.TempPrefix + "x", "d/" + store.TempPrefix + "y",
		strings.Repeat("k", store.MaxKeyLen+1), "a/" + strings.Repeat("s", store.MaxSegmentLen+1)}
	for _, key := range bad {
		t.Run(fmt.Sprintf("%.20q", key), func(t *testing.T) {
			errs := map[string]error{
				"Put":    s.Put(ctx, key, strings.NewReader("x"), 1, store.PutOptions{}),
				"Create": s.Put(ctx, key, strings.NewReader("x"), 1, store.PutOptions{CreateOnly: true}),
				"Delete": s.Delete(ctx, key),
			}
			_, errs["Get"] = s.Get(ctx, key)
			_, errs["GetRange"] = s.GetRange(ctx, key, 0, 1)
			_, errs["Stat"] = s.Stat(ctx, key)
			for op, err := range errs {
				if err == nil || store.IsNotFound(err) || store.IsExists(err) {
					t.Errorf("%s(%q) = %v, want an invalid key error", op, key, err)
				}
			}
		})
	}
	if err := s.List(ctx, "/abs", func(store.Info) error { return nil }); err == nil {
		t.Errorf("List(%q) accepted an invalid prefix", "/abs")
	}
	if got := keys(list(t, s, "")); len(got) != 0 {
		t.Errorf("invalid keys were stored: %q", got)
	}
}

func testListOrder(t *testing.T, s store.Store) {
	// Byte order differs from a directory walk: "a-c" < "a.x" < "a/b" < "a0".
	all := []string{"l/a-c", "l/a.x", "l/a/b", "l/a/c", "l/a0", "l/ab", "l/b", "l/z/y/x", "l/Z", "l/é", "l/~",
		"m/other", "l/a/b2/deep"}
	// l/a/b and l/a/b2/deep: "b" and "b2/" are different names, portable.
	shuffled := slices.Clone(all)
	mrand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, k := range shuffled {
		put(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	sizes := map[string]int64{}
	for i, k := range shuffled {
		sizes[k] = int64(i)
	}
	want := func(prefix string) []string {
		var w []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				w = append(w, k)
			}
		}
		slices.Sort(w)
		return w
	}
	for _, prefix := range []string{"", "l/", "l/a", "l/a/", "l/a/b", "l/z/", "l/z/y/x", "l/nothing", "n", "l/é"} {
		t.Run(fmt.Sprintf("%q", prefix), func(t *testing.T) {
			infos := list(t, s, prefix)
			if diff := cmp.Diff(want(prefix), keys(infos)); diff != "" {
				t.Errorf("List(%q) keys (-want +got):\n%s", prefix, diff)
			}
			for _, i := range infos {
				if i.Size != sizes[i.Key] {
					t.Errorf("List(%q): %s size %d, want %d", prefix, i.Key, i.Size, sizes[i.Key])
				}
				if i.ModTime.IsZero() {
					t.Errorf("List(%q): %s has no ModTime", prefix, i.Key)
				}
			}
		})
	}
}

func testListStop(t *testing.T, s store.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("s/%d", i), []byte("x"))
	}
	stop := errors.New("enough")
	var seen []string
	err := s.List(ctxT(t), "s/", func(i store.Info) error {
		seen = append(seen, i.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("List returned %v, want fn's own error %v, unwrapped", err, stop)
	}
	if diff := cmp.Diff([]string{"s/0", "s/1"}, seen); diff != "" {
		t.Errorf("List called fn after its error (-want +got):\n%s", diff)
	}
}

func readRange(s store.Store, ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, err := s.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func testGetRange(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	data := random(t, 1000)
	put(t, s, "r", data)
	for _, r := range [][2]int64{{0, 1}, {0, 1000}, {999, 1}, {100, 200}, {500, 500}} {
		got, err := readRange(s, ctx, "r", r[0], r[1])
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", r[0], r[1], err)
			continue
		}
		if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Errorf("GetRange(%d, %d) returned %d bytes, not the object's bytes", r[0], r[1], len(got))
		}
	}
	for _, r := range [][2]int64{{990, 20}, {1000, 1}, {2000, 5}, {-1, 5}, {0, 0}, {10, -1}} {
		got, err := readRange(s, ctx, "r", r[0], r[1])
		if err == nil {
			t.Errorf("GetRange(%d, %d) of a 1000-byte object = %d bytes, want an error", r[0], r[1], len(got))
			continue
		}
		if store.IsNotFound(err) {
			t.Errorf("GetRange(%d, %d) = %v: a bad range is not a missing object", r[0], r[1], err)
		}
		if !errors.Is(err, store.ErrRange) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("GetRange(%d, %d) = %v, want ErrRange or io.ErrUnexpectedEOF", r[0], r[1], err)
		}
	}
}

// onlyReader hides every method but Read (no Seek, no WriterTo), as a
// stream from a pipe would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testLarge(t *testing.T, s store.Store) {
	if testing.Short() {
		t.Skip("large objects in -short mode")
	}
	ctx := ctxT(t)
	const size = 17<<20 + 123 // over 16 MiB: S3 stores go multipart
	data := random(t, size)
	sum := sha256.Sum256(data)
	for _, tt := range []struct {
		key  string
		size int64
	}{{"big/known", size}, {"big/unknown", -1}} {
		t.Run(tt.key, func(t *testing.T) {
			if err := s.Put(ctx, tt.key, onlyReader{bytes.NewReader(data)}, tt.size, store.PutOptions{}); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := get(t, s, tt.key); sha256.Sum256(got) != sum {
				t.Errorf("Get returned %d bytes that differ from the %d put", len(got), size)
			}
			info, err := s.Stat(ctx, tt.key)
			if err != nil || info.Size != size {
				t.Errorf("Stat = %+v, %v; want size %d", info, err, size)
			}
			off := int64(16<<20 - 10) // across the first part boundary
			got, err := readRange(s, ctx, tt.key, off, 20)
			if err != nil || !bytes.Equal(got, data[off:off+20]) {
				t.Errorf("GetRange across the part boundary = %x, %v; want %x", got, err, data[off:off+20])
			}
		})
	}
	t.Run("create-only", func(t *testing.T) {
		other := random(t, size)
		err := s.Put(ctx, "big/known", bytes.NewReader(other), size, store.PutOptions{CreateOnly: true})
		if !store.IsExists(err) {
			t.Errorf("create-only multipart Put over an existing object = %v, want ErrExists", err)
		}
		if got := get(t, s, "big/known"); sha256.Sum256(got) != sum {
			t.Errorf("create-only multipart Put changed the existing object")
		}
		if err := s.Put(ctx, "big/new", bytes.NewReader(other), size, store.PutOptions{CreateOnly: true}); err != nil {
			t.Fatalf("create-only multipart Put of a new key: %v", err)
		}
		if got := get(t, s, "big/new"); !bytes.Equal(got, other) {
			t.Errorf("create-only multipart Put stored different bytes")
		}
	})
}

func testCreateOnly(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	create := func(key, data string) error {
		return s.Put(ctx, key, strings.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
	}
	if err := create("c/one", "original"); err != nil {
		t.Fatalf("create-only Put of a new key: %v", err)
	}
	for _, data := range []string{"different", "original", ""} {
		err := create("c/one", data)
		if !store.IsExists(err) || store.IsNotFound(err) {
			t.Errorf("create-only Put(%q) over an existing key = %v, want ErrExists", data, err)
		} else if !strings.Contains(err.Error(), "c/one") {
			t.Errorf("ErrExists error %q does not name the key", err)
		}
	}
	if got := string(get(t, s, "c/one")); got != "original" {
		t.Errorf("after refused create-only Puts Get = %q, want %q", got, "original")
	}
	// Unknown size takes another path through S3 clients.
	err := s.Put(ctx, "c/one", strings.NewReader("stream"), -1, store.PutOptions{CreateOnly: true})
	if !store.IsExists(err) {
		t.Errorf("create-only Put of unknown size over an existing key = %v, want ErrExists", err)
	}
	// After a delete the key can be created again.
	if err := s.Delete(ctx, "c/one"); err != nil {
		t.Fatal(err)
	}
	if err := create("c/one", "again"); err != nil {
		t.Errorf("create-only Put after Delete: %v", err)
	}
}

func testCreateOnlyRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 32
	payload := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("writer %02d|", i)), 6000) // 60 KB each, distinct
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			data := payload(i)
			errs[i] = s.Put(ctx, "race/key", bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !store.IsExists(err):
			t.Errorf("writer %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	if got := get(t, s, "race/key"); !bytes.Equal(got, payload(winner)) {
		t.Errorf("stored object (%d bytes, starts %q) is not the winner's (writer %d)", len(got), got[:min(len(got), 10)], winner)
	}
	if got := keys(list(t, s, "")); !cmp.Equal(got, []string{"race/key"}) {
		t.Errorf("after the race List = %q, want only race/key", got)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	put(t, s, "d/a/b", []byte("x"))
	put(t, s, "d/keep", []byte("y"))
	for i := range 2 { // the second delete finds nothing: not an error
		if err := s.Delete(ctx, "d/a/b"); err != nil {
			t.Errorf("Delete #%d: %v", i+1, err)
		}
	}
	mustNotExist(t, s, "d/a/b")
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a key never stored: %v", err)
	}
	if got := keys(list(t, s, "")); !cmp.Equal(got, []string{"d/keep"}) {
		t.Errorf("after Delete List = %q, want [d/keep]", got)
	}
	// The emptied "directory" is usable again.
	put(t, s, "d/a/c", []byte("z"))
	if got := string(get(t, s, "d/a/c")); got != "z" {
		t.Errorf("Get after re-put = %q", got)
	}
}

// OddKeys are valid keys that need escaping somewhere: URLs, XML, shells.
var OddKeys = []string{
	"with space/and  two", "plus+sign", "percent%20encoded", "query?a=b&c=d", "hash#frag",
	"semi;colon", "quote'single", `quote"double`, "star*", "paren(1)[2]{3}", "back\\slash",
	"tilde~/caret^", "ünïcödé/日本語/emoji😀", "amp&lt;", "<xml>", "colon:name", "comma,name",
	"dollar$HOME", "at@sign", "excl!", "equals=", "-leading-dash", ".hidden/.dot", "...dots",
	"trailing.", "pipe|bar", "backtick`", "a/" + strings.Repeat("long", 60) + "/" + strings.Repeat("x", store.MaxSegmentLen),
}

func testOddKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, key := range OddKeys {
		put(t, s, key, []byte(key))
	}
	for _, key := range OddKeys {
		if got := string(get(t, s, key)); got != key {
			t.Errorf("Get(%q) = %q", key, got)
		}
		if info, err := s.Stat(ctx, key); err != nil || info.Key != key {
			t.Errorf("Stat(%q) = %+v, %v", key, info, err)
		}
	}
	want := slices.Clone(OddKeys)
	slices.Sort(want)
	if diff := cmp.Diff(want, keys(list(t, s, ""))); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, key := range OddKeys {
		if got := keys(list(t, s, key)); !slices.Contains(got, key) {
			t.Errorf("List(%q) = %q, missing the key itself", key, got)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if got := keys(list(t, s, "")); len(got) != 0 {
		t.Errorf("after deleting all, List = %q", got)
	}
}

// failingReader gives some bytes, then fails.
type failingReader struct {
	left int
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, f.err
	}
	n := min(len(p), f.left)
	clear(p[:n])
	f.left -= n
	return n, nil
}

func testFailedPut(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	boom := errors.New("source broke")
	put(t, s, "f/old", []byte("old bytes"))
	tests := []struct {
		name string
		key  string
		r    io.Reader
		size int64
		opts store.PutOptions
	}{
		{"reader error", "f/new", &failingReader{left: 1000, err: boom}, 5000, store.PutOptions{}},
		{"reader error, unknown size", "f/new", &failingReader{left: 1000, err: boom}, -1, store.PutOptions{}},
		{"reader error, create-only", "f/new", &failingReader{left: 1000, err: boom}, 5000, store.PutOptions{CreateOnly: true}},
		{"short reader", "f/new", strings.NewReader("only this"), 100, store.PutOptions{}},
		{"reader error, replacing", "f/old", &failingReader{left: 3, err: boom}, 5000, store.PutOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Put(ctx, tt.key, tt.r, tt.size, tt.opts)
			if err == nil {
				t.Fatal("Put succeeded")
			}
			if store.IsNotFound(err) || store.IsExists(err) {
				t.Errorf("Put = %v, want neither not found nor exists", err)
			}
			if tt.key == "f/new" {
				mustNotExist(t, s, tt.key)
			}
			if got := string(get(t, s, "f/old")); got != "old bytes" {
				t.Errorf("existing object changed to %q", got)
			}
		})
	}
	if got := keys(list(t, s, "")); !cmp.Equal(got, []string{"f/old"}) {
		t.Errorf("after failed puts List = %q, want [f/old]", got)
	}
}

// cancelReader cancels its context after giving some bytes, then goes on.
type cancelReader struct {
	r      io.Reader
	after  int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.after <= 0 {
		c.cancel()
		time.Sleep(10 * time.Millisecond)
	}
	n, err := c.r.Read(p)
	c.after -= n
	return n, err
}

func testCancel(t *testing.T, s store.Store) {
	put(t, s, "x/present", []byte("x"))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if err == nil || store.IsNotFound(err) || store.IsExists(err) {
			t.Errorf("%s with a cancelled context = %v, want a context error", op, err)
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want it to wrap context.Canceled", op, err)
		}
	}
	check("Put", s.Put(done, "x/new", strings.NewReader("x"), 1, store.PutOptions{}))
	_, err := s.Get(done, "x/present")
	check("Get", err)
	_, err = s.GetRange(done, "x/present", 0, 1)
	check("GetRange", err)
	_, err = s.Stat(done, "x/missing")
	check("Stat of a missing key", err)
	check("Delete", s.Delete(done, "x/present"))
	check("List", s.List(done, "", func(store.Info) error { return nil }))
	mustNotExist(t, s, "x/new")

	// Cancelled in the middle of an upload.
	for _, size := range []int64{3 << 20, -1} {
		ctx, cancel := context.WithCancel(context.Background())
		data := random(t, 3<<20)
		r := &cancelReader{r: bytes.NewReader(data), after: 1 << 20, cancel: cancel}
		err := s.Put(ctx, "x/midway", r, size, store.PutOptions{})
		cancel()
		if err == nil {
			t.Errorf("Put (size %d) cancelled midway succeeded", size)
		} else if store.IsNotFound(err) || store.IsExists(err) {
			t.Errorf("Put (size %d) cancelled midway = %v", size, err)
		}
		mustNotExist(t, s, "x/midway")
	}
	if got := string(get(t, s, "x/present")); got != "x" {
		t.Errorf("Get after cancellations = %q", got)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				key := fmt.Sprintf("w%d/%d", w, i)
				data := []byte(key)
				if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
					errs <- err
					return
				}
				rc, err := s.Get(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(got) != key {
					errs <- fmt.Errorf("Get(%q) = %q, %v", key, got, err)
					return
				}
				if i%2 == 0 {
					if err := s.Delete(ctx, key); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(list(t, s, "")); n != 40 {
		t.Errorf("after concurrent work List has %d keys, want 40", n)
	}
}
