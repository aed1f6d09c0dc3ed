package replica

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/store"
	"tend/internal/store/dir"
	"tend/internal/store/s3"
	"tend/internal/store/storetest"
)

func newDir(t *testing.T) store.Store {
	t.Helper()
	s, err := dir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s store.Store, key, data string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, s store.Store, key string) {
	t.Helper()
	if err := s.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
}

// contents returns every object of s, state included, as key -> bytes.
func contents(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	m := map[string]string{}
	err := s.List(ctx, "", func(i store.Info) error {
		r, err := s.Get(ctx, i.Key)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		m[i.Key] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dataOnly drops the replica's own objects.
func dataOnly(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, StatePrefix) {
			out[k] = v
		}
	}
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestPullStoreDeletedAndChanged(t *testing.T) {
	ctx := context.Background()
	src, dst := newDir(t), newDir(t)
	clk := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	status := t.TempDir() + "/status.json"
	opts := StoreOptions{KeepDeleted: 10 * 24 * time.Hour, Now: clk.now, StatusFile: status, Workers: 3}

	for i := range 20 {
		put(t, src, fmt.Sprintf("data/%02d", i), strings.Repeat("x", i*100))
	}
	rep, err := PullStore(ctx, src, dst, opts)
	if err != nil || rep.Copied != 20 || rep.CopiedBytes != 19*20/2*100 {
		t.Fatalf("first pull: %+v, %v", rep, err)
	}
	if diff := cmp.Diff(contents(t, src), dataOnly(contents(t, dst))); diff != "" {
		t.Fatalf("replica differs (-src +dst):\n%s", diff)
	}

	// Incremental: one new object, nothing else copied.
	put(t, src, "data/new", "new")
	clk.advance(time.Hour)
	rep, err = PullStore(ctx, src, dst, opts)
	if err != nil || rep.Copied != 1 || rep.Skipped != 20 {
		t.Fatalf("second pull: %+v, %v", rep, err)
	}

	// Deleted at the source: kept for KeepDeleted, then deleted.
	del(t, src, "data/03")
	del(t, src, "data/04")
	clk.advance(time.Hour)
	rep, err = PullStore(ctx, src, dst, opts)
	if err != nil || rep.Missing != 2 || len(rep.Deleted) != 0 {
		t.Fatalf("pull after deletion: %+v, %v", rep, err)
	}
	if _, ok := contents(t, dst)["data/03"]; !ok {
		t.Fatal("deleted at the source, gone from the replica at once")
	}
	// data/04 comes back at the source: its clock stops.
	put(t, src, "data/04", strings.Repeat("x", 400))
	clk.advance(9 * 24 * time.Hour)
	rep, err = PullStore(ctx, src, dst, opts)
	if err != nil || rep.Missing != 1 || len(rep.Deleted) != 0 || rep.Copied != 0 {
		t.Fatalf("pull 9 days after deletion: %+v, %v", rep, err)
	}
	del(t, src, "data/04")
	clk.advance(24 * time.Hour)
	rep, err = PullStore(ctx, src, dst, opts)
	if err != nil || !cmp.Equal(rep.Deleted, []string{"data/03"}) || rep.Missing != 1 {
		t.Fatalf("pull 10 days after deletion: %+v, %v", rep, err)
	}
	if _, ok := contents(t, dst)["data/03"]; ok {
		t.Fatal("data/03 still in the replica after KeepDeleted")
	}
	if _, ok := contents(t, dst)["data/04"]; !ok {
		t.Fatal("data/04 deleted though its clock restarted when it came back")
	}

	// Changed under the same key: loud error, old copy kept aside.
	put(t, src, "data/05", "rewritten")
	clk.advance(time.Hour)
	rep, err = PullStore(ctx, src, dst, opts)
	if err == nil || !strings.Contains(err.Error(), `changed at the source under the same key: data/05`) {
		t.Fatalf("changed object: err %v", err)
	}
	if len(rep.Changed) != 1 {
		t.Fatalf("changed object: %+v", rep)
	}
	all := contents(t, dst)
	if all["data/05"] != "rewritten" {
		t.Errorf("replica has %q, want the new bytes", all["data/05"])
	}
	side := ChangedPrefix + clk.t.UTC().Format("20060102T150405Z") + "/data/05"
	if all[side] != strings.Repeat("x", 500) {
		t.Errorf("old bytes not kept under %s: %v", side, sortedKeys(all))
	}
	st, err := ReadStatus(status)
	if err != nil || st.LastError == "" || st.Failures != 1 || !st.LastSuccess.Equal(clk.t.Add(-time.Hour)) {
		t.Fatalf("status after the changed object: %+v, %v", st, err)
	}
	if st.Check(clk.t, 0) == nil {
		t.Error("status Check passes a failing replica")
	}
	// The next pull is clean again.
	clk.advance(time.Hour)
	if rep, err = PullStore(ctx, src, dst, opts); err != nil || rep.Copied != 0 {
		t.Fatalf("pull after the changed object: %+v, %v", rep, err)
	}
	if st, _ = ReadStatus(status); st.Check(clk.t, time.Hour) != nil || st.Failures != 0 {
		t.Errorf("status after recovery: %+v: %v", st, st.Check(clk.t, time.Hour))
	}
	if err := st.Check(clk.t.Add(2*time.Hour), time.Hour); err == nil || !strings.Contains(err.Error(), "older than 1h0m0s") {
		t.Errorf("stale replica: Check = %v", err)
	}
}

func TestPullStoreRefusesEmptySource(t *testing.T) {
	src, dst := newDir(t), newDir(t)
	put(t, dst, "a", "a")
	_, err := PullStore(context.Background(), src, dst, StoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "source lists no object") {
		t.Fatalf("empty source: %v", err)
	}
	if got := contents(t, dst); !cmp.Equal(got, map[string]string{"a": "a"}) {
		t.Errorf("replica touched: %v", got)
	}
}

// TestPullStoreS3 replicates from a real S3 server to a directory and back,
// breaks the source (wrong credentials, wrong bucket, stopped server) and
// recovers.
func TestPullStoreS3(t *testing.T) {
	srv := storetest.StartS3(t, "versitygw")
	ctx := context.Background()
	s3src := srv.NewStore(t)
	local := newDir(t)
	status := t.TempDir() + "/status.json"
	opts := StoreOptions{StatusFile: status}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	if err := s3src.Put(ctx, "pack/big", bytes.NewReader(big), int64(len(big)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		put(t, s3src, fmt.Sprintf("wal/%03d", i), fmt.Sprintf("segment %d", i))
	}
	rep, err := PullStore(ctx, s3src, local, opts)
	if err != nil || rep.Copied != 31 {
		t.Fatalf("s3 -> dir: %+v, %v", rep, err)
	}
	if diff := cmp.Diff(contents(t, s3src), dataOnly(contents(t, local))); diff != "" {
		t.Fatalf("s3 -> dir differs (-src +dst):\n%s", diff)
	}
	if rep, err = PullStore(ctx, s3src, local, opts); err != nil || rep.Copied != 0 || rep.Skipped != 31 {
		t.Fatalf("s3 -> dir again: %+v, %v", rep, err)
	}

	// And back: directory -> another S3 prefix.
	s3dst := srv.NewStore(t)
	if rep, err = PullStore(ctx, local, s3dst, StoreOptions{}); err != nil || rep.Copied != 31 {
		t.Fatalf("dir -> s3: %+v, %v", rep, err)
	}
	if diff := cmp.Diff(contents(t, s3src), dataOnly(contents(t, s3dst))); diff != "" {
		t.Fatalf("dir -> s3 differs (-src +dst):\n%s", diff)
	}

	cfg := srv.Config("", "")
	cfg.MaxRetries = 1
	broken := []struct {
		name string
		cfg  func(c s3.Config) s3.Config
		want string
	}{
		{"wrong secret", func(c s3.Config) s3.Config { c.SecretKey = "wrong"; return c }, "list source"},
		{"wrong bucket", func(c s3.Config) s3.Config { c.Bucket = "no-such-bucket"; return c }, "list source"},
		{"stopped server", func(c s3.Config) s3.Config { c.Endpoint = deadEndpoint(t); return c }, "list source"},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			c := cfg
			c.Bucket, c.Prefix = s3Bucket(t, s3src.String()), s3Prefix(t, s3src.String())
			bad, err := s3.Open(b.cfg(c))
			if err != nil {
				t.Fatal(err)
			}
			before := contents(t, local)
			_, err = PullStore(ctx, bad, local, opts)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("pull from a broken source: %v", err)
			}
			st, serr := ReadStatus(status)
			if serr != nil || st.LastError == "" || st.Check(time.Now(), 0) == nil {
				t.Fatalf("status does not show the failure: %+v, %v", st, serr)
			}
			if diff := cmp.Diff(before, contents(t, local)); diff != "" {
				t.Errorf("a failed pull changed the replica:\n%s", diff)
			}
		})
	}

	// Recovery: new objects appeared meanwhile; only they are copied.
	put(t, s3src, "wal/100", "late")
	put(t, s3src, "wal/101", "later")
	rep, err = PullStore(ctx, s3src, local, opts)
	if err != nil || rep.Copied != 2 || rep.Skipped != 31 {
		t.Fatalf("recovery: %+v, %v", rep, err)
	}
	st, err := ReadStatus(status)
	if err != nil || st.Check(time.Now(), time.Hour) != nil {
		t.Fatalf("status after recovery: %+v, %v", st, err)
	}
}

// deadEndpoint is a local address where nothing listens.
func deadEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// s3Bucket and s3Prefix read a store's s3:// name back.
func s3Bucket(t *testing.T, name string) string {
	t.Helper()
	rest := strings.TrimPrefix(name, "s3://")
	b, _, _ := strings.Cut(rest, "/")
	return b
}

func s3Prefix(t *testing.T, name string) string {
	t.Helper()
	rest := strings.TrimPrefix(name, "s3://")
	_, p, _ := strings.Cut(rest, "/")
	p, _, _ = strings.Cut(p, "?")
	return p
}
