package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"tend/internal/store"
	"tend/internal/store/dir"
	"tend/internal/store/storetest"
)

// env is one repository with admin keys (identity) and host keys (none).
type env struct {
	t     *testing.T
	st    store.Store
	admin *Repo
	host  *Repo
	keys  Keys
}

func newStore(t *testing.T, kind string) store.Store {
	t.Helper()
	switch kind {
	case "dir":
		st, err := dir.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	default:
		return storetest.StartS3(t, kind).NewStore(t)
	}
}

func newEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wk, _ := GenerateKey()
	ctx := context.Background()
	if _, err := Init(ctx, st, wk, time.Now()); err != nil {
		t.Fatal(err)
	}
	ks := Keys{WriteKey: wk, Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}
	admin, err := Open(ctx, st, ks)
	if err != nil {
		t.Fatal(err)
	}
	hk := ks
	hk.Identities = nil
	host, err := Open(ctx, st, hk)
	if err != nil {
		t.Fatal(err)
	}
	admin.Logf, host.Logf = t.Logf, t.Logf
	return &env{t: t, st: st, admin: admin, host: host, keys: ks}
}

func (e *env) create(r *Repo, host string, cache string, paths ...string) *Snapshot {
	e.t.Helper()
	sn, err := r.Create(context.Background(), CreateOptions{Paths: paths, Host: host, CacheDir: cache})
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return sn
}

func (e *env) check(readData float64) *CheckResult {
	e.t.Helper()
	res, err := e.admin.Check(context.Background(), CheckOptions{ReadData: readData})
	if err != nil {
		e.t.Fatalf("check: %v", err)
	}
	return res
}

func (e *env) mustCheck() {
	e.t.Helper()
	if res := e.check(1); len(res.Problems) > 0 {
		e.t.Fatalf("check found problems:\n%s", strings.Join(res.Problems, "\n"))
	}
}

func write(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// describe lists every entry below root with its metadata and content hash,
// the way a byte-identical restore must reproduce it.
func describe(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d", st.Mode, st.Uid, st.Gid)
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			desc += fmt.Sprintf(" mtime=%d", st.Mtim.Nano())
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			desc += fmt.Sprintf(" size=%d sha256=%s", len(data), hex.EncodeToString(h[:8]))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " link-of=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case syscall.S_IFLNK:
			target, _ := os.Readlink(p)
			desc += " target=" + target
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// makeTree builds the round-trip tree: many small files, large files, a
// sparse file, odd names, hard links, symlinks, modes, owners, mtimes.
func makeTree(t *testing.T, root string) {
	t.Helper()
	for i := range 300 {
		write(t, filepath.Join(root, "small", fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("small file %d\n", i)), 0o644)
	}
	big := random(3 << 20)
	write(t, filepath.Join(root, "big", "random"), big, 0o640)
	write(t, filepath.Join(root, "big", "repeat"), bytes.Repeat([]byte("compressible line of text\n"), 200000), 0o644)
	// Sparse: 1 byte at 32 MiB.
	sp := filepath.Join(root, "sparse")
	f, err := os.Create(sp)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("x"), 32<<20)
	f.Close()
	write(t, filepath.Join(root, "odd", "é ü 日本"), []byte("utf8"), 0o644)
	write(t, filepath.Join(root, "odd", "new\nline"), []byte("newline"), 0o644)
	write(t, filepath.Join(root, "odd", strings.Repeat("n", 255)), []byte("long"), 0o644)
	write(t, filepath.Join(root, "odd", "bad\xffutf8"), []byte("latin1"), 0o644)
	write(t, filepath.Join(root, "empty"), nil, 0o600)
	write(t, filepath.Join(root, "setuid"), []byte("#!/bin/sh\n"), 0o4755)
	write(t, filepath.Join(root, "links", "a"), []byte("hard linked"), 0o644)
	if err := os.Link(filepath.Join(root, "links", "a"), filepath.Join(root, "links", "b")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("../small/d0/f000", filepath.Join(root, "links", "sym"))
	os.Symlink("/nonexistent/target", filepath.Join(root, "links", "dangling"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(root, "private"), 0o700)
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(root, "small", "d1", "f001"), 1234, 5678)
		os.Lchown(filepath.Join(root, "links", "sym"), 1234, 5678)
		os.Lchown(filepath.Join(root, "private"), 4321, 8765)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 789012345, time.UTC)
	os.Chtimes(filepath.Join(root, "big", "random"), old, old)
	ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
	unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "links", "sym"), ts, unix.AT_SYMLINK_NOFOLLOW)
}

var stores = []string{"dir", "versitygw"}

func TestRoundTrip(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			src := filepath.Join(t.TempDir(), "data")
			makeTree(t, src)
			sn := e.create(e.host, "web1", "", src)
			if sn.Summary.Files < 300 {
				t.Errorf("summary: %d files", sn.Summary.Files)
			}
			out := t.TempDir()
			if _, err := e.admin.Restore(context.Background(), sn, "", out, 0); err != nil {
				t.Fatal(err)
			}
			got := describe(t, filepath.Join(out, src))
			want := describe(t, src)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("restore differs (-source +restored):\n%s", diff)
			}
			var st syscall.Stat_t
			syscall.Stat(filepath.Join(out, src, "sparse"), &st)
			if st.Blocks*512 > 1<<20 {
				t.Errorf("sparse file restored with %d bytes allocated", st.Blocks*512)
			}
			// Restoring one subdirectory gives only it.
			out2 := t.TempDir()
			if _, err := e.admin.Restore(context.Background(), sn, src+"/links", out2, 0); err != nil {
				t.Fatal(err)
			}
			if got := describe(t, filepath.Join(out2, src)); len(got) != 5 { // links + 4 entries
				t.Errorf("partial restore gave %d entries: %v", len(got), got)
			}
			e.mustCheck()
		})
	}
}

func TestRawEmail(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	maildir := filepath.Join(t.TempDir(), "mail")
	cache := t.TempDir()
	for i := range 50 {
		write(t, filepath.Join(maildir, "cur", fmt.Sprintf("%d.M1P1.host:2,S", i)), []byte(fmt.Sprintf("From: a\n\nmail %d\n", i)), 0o600)
	}
	e.create(e.host, "mx", cache, maildir)
	msg := filepath.Join(maildir, "new", "1700000000.M2P2.host")
	body := append([]byte("From: b\nSubject: hello\n\n"), random(5000)...)
	write(t, msg, body, 0o600)
	want := sha256.Sum256(body)
	sn := e.create(e.host, "mx", cache, maildir)
	if sn.Summary.Unchanged != 50 || sn.Summary.Read != uint64(len(body)) {
		t.Errorf("second snapshot: %d unchanged, %d bytes read; want 50 and %d", sn.Summary.Unchanged, sn.Summary.Read, len(body))
	}
	os.Remove(msg)
	e.create(e.host, "mx", cache, maildir)
	out := t.TempDir()
	if _, err := e.admin.Restore(context.Background(), sn, msg, out, 0); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, msg))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != want {
		t.Error("restored mail has another SHA-256")
	}
	latest, err := e.admin.Find(context.Background(), "latest")
	if err != nil {
		t.Fatal(err)
	}
	changes, err := e.admin.Diff(context.Background(), sn, latest)
	if err != nil {
		t.Fatal(err)
	}
	// The directory changed too: its mtime moved when the mail was deleted.
	wantChanges := []Change{{Path: filepath.Dir(msg), What: "modified"}, {Path: msg, What: "removed"}}
	if diff := cmp.Diff(wantChanges, changes); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestDedup(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			src := filepath.Join(t.TempDir(), "data")
			makeTree(t, src)
			first := e.create(e.host, "web1", "", src)
			again := e.create(e.host, "web1", "", src)
			// Only a parent directory's tree may change (/tmp's mtime moves
			// under us): no data, nothing large.
			if again.Summary.NewBlobs > 2 || again.Summary.NewBytes > 4096 || again.Summary.Uploaded > 8192 {
				t.Errorf("second create without cache added %d blobs (%d bytes), uploaded %d bytes",
					again.Summary.NewBlobs, again.Summary.NewBytes, again.Summary.Uploaded)
			}
			if first.Summary.NewBytes < 3<<20 {
				t.Errorf("first create stored only %d bytes", first.Summary.NewBytes)
			}
			// Another host with the same big file: only its trees are new.
			other := filepath.Join(t.TempDir(), "other")
			data, _ := os.ReadFile(filepath.Join(src, "big", "random"))
			write(t, filepath.Join(other, "copy"), data, 0o644)
			sn := e.create(e.host, "web2", "", other)
			if sn.Summary.NewBytes > 4096 {
				t.Errorf("second host stored %d new bytes for shared data", sn.Summary.NewBytes)
			}
		})
	}
}

func TestHostCannotRead(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	src := t.TempDir()
	write(t, filepath.Join(src, "secret.txt"), []byte("payroll"), 0o600)
	sn := e.create(e.host, "web1", "", src)
	ctx := context.Background()
	if _, err := e.host.Ls(ctx, sn, "/"); !errors.Is(err, errNoIdentity) {
		t.Errorf("ls by a host: %v, want the no-identity error", err)
	}
	if _, err := e.host.Restore(ctx, sn, "", t.TempDir(), 0); !errors.Is(err, errNoIdentity) {
		t.Errorf("restore by a host: %v, want the no-identity error", err)
	}
	// Nothing in the store holds the plaintext or the file name.
	var leaked []string
	e.st.List(ctx, "", func(i store.Info) error {
		rc, _ := e.st.Get(ctx, i.Key)
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if bytes.Contains(b.Bytes(), []byte("payroll")) || bytes.Contains(b.Bytes(), []byte("secret.txt")) {
			leaked = append(leaked, i.Key)
		}
		return nil
	})
	if len(leaked) > 0 {
		t.Errorf("plaintext in %v", leaked)
	}
	// A wrong write key is refused at open.
	ks := e.keys
	ks.WriteKey, _ = GenerateKey()
	if _, err := Open(ctx, e.st, ks); err == nil || !strings.Contains(err.Error(), "write key does not match") {
		t.Errorf("open with a wrong write key: %v", err)
	}
	entries, err := e.admin.Ls(ctx, sn, src)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ls by admin: %v %v", entries, err)
	}
}

func packKeys(t *testing.T, st store.Store) []string {
	var keys []string
	st.List(context.Background(), prefixData, func(i store.Info) error { keys = append(keys, i.Key); return nil })
	sort.Strings(keys)
	return keys
}

func TestCheckReportsDamage(t *testing.T) {
	for _, damage := range []string{"corrupt", "delete"} {
		t.Run(damage, func(t *testing.T) {
			root := t.TempDir()
			st, _ := dir.Open(root)
			e := newEnv(t, st)
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "precious"), random(2<<20), 0o644)
			e.create(e.host, "web1", "", src)
			// Data blobs and trees are in separate packs; damage the data pack.
			var target string
			for _, k := range packKeys(t, st) {
				info, _ := st.Stat(context.Background(), k)
				if info.Size > 1<<20 {
					target = k
				}
			}
			p := filepath.Join(root, target)
			if damage == "corrupt" {
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0xff
				os.WriteFile(p, b, 0o644)
			} else {
				os.Remove(p)
			}
			res := e.check(1)
			all := strings.Join(res.Problems, "\n")
			if !strings.Contains(all, "file "+src+"/precious") {
				t.Errorf("check did not name the affected file:\n%s", all)
			}
			if damage == "corrupt" && e.check(0).Problems != nil {
				t.Errorf("structure check should not read data")
			}
		})
	}
}

func TestPrune(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			ctx := context.Background()
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "keep"), random(1<<20), 0o644)
			write(t, filepath.Join(src, "drop"), random(1<<20), 0o644)
			old := e.create(e.host, "web1", "", src)
			os.Remove(filepath.Join(src, "drop"))
			kept := e.create(e.host, "web1", "", src)
			if err := e.admin.Forget(ctx, []ID{old.ID}); err != nil {
				t.Fatal(err)
			}
			opts := PruneOptions{MinAge: -1}
			res, err := e.admin.Prune(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.MarkedBlobs == 0 || res.DeletedBlobs != 0 {
				t.Errorf("first prune: %+v, want only marks", res)
			}
			res, err = e.admin.Prune(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.DeletedBlobs == 0 || res.RepackedPacks+res.DeletedPacks == 0 {
				t.Errorf("second prune: %+v, want deletions", res)
			}
			if res.RepackedPacks > 1 {
				t.Errorf("rewrote %d packs; only the one with garbage should be", res.RepackedPacks)
			}
			e.mustCheck()
			out := t.TempDir()
			if _, err := e.admin.Restore(ctx, kept, "", out, 0); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(describe(t, src), describe(t, filepath.Join(out, src))); diff != "" {
				t.Errorf("after prune (-want +got):\n%s", diff)
			}
			res, _ = e.admin.Prune(ctx, PruneOptions{MinAge: -1, DryRun: true})
			if res.MarkedBlobs+res.DeletedBlobs+res.OrphanPacks != 0 {
				t.Errorf("third prune still finds garbage: %+v", res)
			}
		})
	}
}

func TestCreateReuploadsMarkedBlobs(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "data")
	write(t, filepath.Join(src, "f"), random(100000), 0o644)
	sn := e.create(e.host, "web1", "", src)
	e.admin.Forget(ctx, []ID{sn.ID})
	if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err != nil {
		t.Fatal(err)
	}
	// The data is marked: a new create stores it again instead of reusing.
	sn2 := e.create(e.host, "web1", "", src)
	if sn2.Summary.NewBlobs == 0 {
		t.Error("create reused marked blobs")
	}
	if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err != nil {
		t.Fatal(err)
	}
	e.mustCheck()
	out := t.TempDir()
	if _, err := e.admin.Restore(ctx, sn2, "", out, 0); err != nil {
		t.Fatal(err)
	}
}

func TestLease(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	release, err := e.admin.acquireLease(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.acquireLease(ctx, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "another prune holds the lease") {
		t.Errorf("second lease: %v", err)
	}
	release()
	// A stale lease (its holder was killed) is taken over.
	stale := []byte(`{"owner":"dead pid 1","token":"x","expires":"2000-01-01T00:00:00Z"}`)
	e.st.Put(ctx, keyLease, bytes.NewReader(stale), int64(len(stale)), store.PutOptions{})
	var logs []string
	e.admin.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	release, err = e.admin.acquireLease(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if len(logs) != 1 || !strings.Contains(logs[0], "taking over a stale prune lease held by dead pid 1") {
		t.Errorf("logs: %q", logs)
	}
}
