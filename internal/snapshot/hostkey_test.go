package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/snapkey"
)

// openHost opens e's repository with the host key of name, as a host
// backing up holds it: no identity.
func (e *env) openHost(name string) *Repo {
	e.t.Helper()
	hk, err := snapkey.ForHost(e.keys.WriteKey, name)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := Open(context.Background(), e.st, Keys{HostKey: hk, Recipients: e.keys.Recipients})
	if err != nil {
		e.t.Fatalf("open with the host key of %s: %v", name, err)
	}
	r.Logf = e.t.Logf
	return r
}

// logTo collects what r logs.
func logTo(r *Repo) func() []string {
	var mu sync.Mutex
	var lines []string
	r.Logf = func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), lines...) }
}

func snapObject(t *testing.T, sn *Snapshot) (string, []byte) {
	t.Helper()
	data, err := json.MarshalIndent(sn, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	return prefixSnap + hex.EncodeToString(h[:]), data
}

// Host web1 signs a snapshot claiming web2 with its own MAC key (all a
// host key allows): readers with the write key reject it, web2's real
// snapshots stay listed and restorable, check fails, and web2's next
// backup is intact.
func TestHostCannotForgeAnotherHost(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			ctx := context.Background()
			a, b := e.openHost("web1"), e.openHost("web2")
			dir := t.TempDir()
			srcA, srcB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			write(t, filepath.Join(srcA, "evil"), []byte("web1's data\n"), 0o644)
			write(t, filepath.Join(srcB, "mail"), random(300000), 0o644)
			cacheB := filepath.Join(dir, "cache-b")
			realB := e.create(b, "", cacheB, srcB)
			if realB.Host != "web2" {
				t.Fatalf("a host key's snapshot records host %q, want web2", realB.Host)
			}
			snA := e.create(a, "web1", "", srcA)

			// Through the API: refused before anything is written.
			if _, err := a.Create(ctx, CreateOptions{Paths: []string{srcA}, Host: "web2"}); err == nil || !strings.Contains(err.Error(), "host key is for web1") {
				t.Errorf("create claiming another host with a host key: %v", err)
			}
			// By hand: web1's tree, claiming web2, newest, MAC'd with
			// what web1 holds.
			forged := *snapA(snA)
			forged.Host, forged.Paths, forged.Time = "web2", realB.Paths, realB.Time.Add(time.Hour)
			forged.MAC = ""
			body, _ := json.Marshal(&forged)
			forged.MAC = signWith(a.k.hostMAC, "snapshot", body)
			forgedKey, forgedJSON := snapObject(t, &forged)
			put(t, e.st, forgedKey, forgedJSON)
			// And one that is web1's own but says "/" and a newline.
			spoof := *snapA(snA)
			spoof.Host = "web1\nabcd1234  2026-01-01  web2"
			spoofKey, spoofJSON := snapObject(t, &spoof)
			put(t, e.st, spoofKey, spoofJSON)

			logs := logTo(e.admin)
			l, err := e.admin.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sn := range l.Snapshots {
				got = append(got, sn.Host+" "+sn.ID.Short())
			}
			want := []string{"web2 " + realB.ID.Short(), "web1 " + snA.ID.Short()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("admin list (-want +got):\n%s", diff)
			}
			for _, k := range []string{forgedKey, spoofKey} {
				if !slicesContains(logs(), k) {
					t.Errorf("no warning names %s:\n%s", k, strings.Join(logs(), "\n"))
				}
			}
			if !slicesContains(logs(), `MAC does not verify for host "web2"`) {
				t.Errorf("the warning does not say which host's MAC failed:\n%s", strings.Join(logs(), "\n"))
			}

			// Restoring web2's latest gives web2's data, not web1's.
			var latestB *Snapshot
			for _, sn := range l.Snapshots {
				if sn.Host == "web2" {
					latestB = sn
				}
			}
			out := t.TempDir()
			if _, err := e.admin.Restore(ctx, latestB, "", out, 0); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(describe(t, srcB), describe(t, filepath.Join(out, srcB))); diff != "" {
				t.Errorf("restore of web2's latest (-web2 +restored):\n%s", diff)
			}
			// By prefix, the forgery is refused, not restored.
			if _, _, err := e.admin.RestoreRef(ctx, strings.TrimPrefix(forgedKey, prefixSnap)[:12], "", t.TempDir()); err == nil {
				t.Errorf("restore of the forged snapshot by ID succeeded")
			}

			// check reports both and fails.
			res := e.check(1)
			for _, k := range []string{forgedKey, spoofKey} {
				if !slicesContains(res.Problems, k) {
					t.Errorf("check does not report %s:\n%s", k, strings.Join(res.Problems, "\n"))
				}
			}

			// The hosts see only their own snapshots.
			for _, c := range []struct {
				r    *Repo
				want string
			}{{a, snA.ID.String()}, {b, realB.ID.String()}} {
				sns, err := c.r.Snapshots(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(sns) != 1 || sns[0].ID.String() != c.want {
					t.Errorf("host %s lists %d snapshots, want only its own", c.r.HostName(), len(sns))
				}
			}
			if _, err := a.Find(ctx, realB.ID.String()[:12]); err == nil || !strings.Contains(err.Error(), "verifies only that host's snapshots") {
				t.Errorf("web1 finding web2's snapshot: %v", err)
			}
			// What only the write key may do.
			if _, err := a.Check(ctx, CheckOptions{}); err == nil || !strings.Contains(err.Error(), "needs the write key") {
				t.Errorf("check with a host key: %v", err)
			}
			if _, err := a.Prune(ctx, PruneOptions{DryRun: true}); err == nil || !strings.Contains(err.Error(), "needs the write key") {
				t.Errorf("prune with a host key: %v", err)
			}

			// web2's next backup (from its cache) is intact.
			write(t, filepath.Join(srcB, "new"), []byte("after the forgery\n"), 0o644)
			nextB := e.create(b, "", cacheB, srcB)
			if nextB.Parent != realB.ID.String() {
				t.Errorf("web2's parent is %q, want its own last snapshot %s", nextB.Parent, realB.ID)
			}
			must(t, e.st.Delete(ctx, forgedKey))
			must(t, e.st.Delete(ctx, spoofKey))
			e.mustCheck()
			out = t.TempDir()
			if _, err := e.admin.Restore(ctx, nextB, "", out, 0); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(describe(t, srcB), describe(t, filepath.Join(out, srcB))); diff != "" {
				t.Errorf("restore of web2's next snapshot (-web2 +restored):\n%s", diff)
			}
		})
	}
}

func snapA(sn *Snapshot) *Snapshot { c := *sn; return &c }

// A host key cannot produce or verify another host's MAC, and only
// verifies its own.
func TestHostKeyMACs(t *testing.T) {
	w, _ := GenerateKey()
	a, _ := snapkey.ForHost(w, "web1")
	b, _ := snapkey.ForHost(w, "web2")
	ka, kb, kw := hostKeys(a), hostKeys(b), deriveKeys(w)
	if ka.macFor("web2") != nil {
		t.Errorf("web1's host key has a MAC key for web2")
	}
	if string(ka.macFor("web1")) != string(kw.macFor("web1")) || string(kb.macFor("web2")) != string(kw.macFor("web2")) {
		t.Errorf("a host's MAC key differs from the one the write key derives for it")
	}
	if string(ka.macFor("web1")) == string(kb.macFor("web2")) || string(ka.macFor("web1")) == string(kw.mac) {
		t.Errorf("host MAC keys are not distinct")
	}
	if ka.mac != nil {
		t.Errorf("a host key holds K(mac)")
	}
	// Everything deduplication needs is shared.
	if string(ka.idKey) != string(kw.idKey) || ka.meta != kw.meta || string(ka.chunker) != string(kw.chunker) {
		t.Errorf("a host key's shared subkeys differ from the write key's")
	}
}

// Host names: what create accepts.
func TestCreateHostNames(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	src := filepath.Join(t.TempDir(), "d")
	write(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	for _, h := range []string{"/", "a/b", "web1\nweb2", "Web1", "-web", "web-", "a..b", "", strings.Repeat("a", 64), "web_1", "web 1"} {
		_, err := e.admin.Create(context.Background(), CreateOptions{Paths: []string{src}, Host: h})
		if err == nil {
			t.Errorf("create --host %q was accepted", h)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("create --host %q: the error has a raw newline: %v", h, err)
		}
	}
	for _, h := range []string{"web1", "db-2.example.org", "a", strings.Repeat("a", 63)} {
		if _, err := e.admin.Create(context.Background(), CreateOptions{Paths: []string{src}, Host: h}); err != nil {
			t.Errorf("create --host %q: %v", h, err)
		}
	}
}

// Snapshots MAC'd with K(mac) itself, as before host keys, are read by
// holders of the write key (and noted by check), not by host keys.
func TestLegacySnapshotMAC(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "d")
	write(t, filepath.Join(src, "f"), []byte("old"), 0o644)
	sn := e.create(e.admin, "web1", "", src)
	must(t, e.st.Delete(ctx, prefixSnap+sn.ID.String()))
	old := snapA(sn)
	old.MAC = ""
	body, _ := json.Marshal(old)
	old.MAC = e.admin.k.sign("snapshot", body)
	key, data := snapObject(t, old)
	put(t, e.st, key, data)
	sns, err := e.admin.Snapshots(ctx)
	if err != nil || len(sns) != 1 {
		t.Fatalf("admin lists %d snapshots (%v), want the legacy one", len(sns), err)
	}
	res := e.check(1)
	if len(res.Problems) > 0 || !slicesContains(res.Notes, "as before host keys") {
		t.Errorf("check of a legacy snapshot: problems %q, notes %q", res.Problems, res.Notes)
	}
	if sns, _ := e.openHost("web1").Snapshots(ctx); len(sns) != 0 {
		t.Errorf("a host key verified a snapshot MAC'd with K(mac)")
	}
}

// A host key is checked against the repository's config.
func TestHostKeyOpen(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	other, _ := GenerateKey()
	hk, _ := snapkey.ForHost(other, "web1")
	if _, err := Open(ctx, e.st, Keys{HostKey: hk}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("open with another repository's host key: %v", err)
	}
	if _, err := Open(ctx, e.st, Keys{HostKey: hk, WriteKey: other}); err == nil {
		t.Errorf("open with both keys was accepted")
	}
	// A config from before host keys: the write key opens it, a host key
	// is refused with what to do.
	cfg := e.admin.Config()
	cfg.HostCheck = ""
	data, _ := json.Marshal(cfg)
	st := newStore(t, "dir")
	put(t, st, keyConfig, data)
	if _, err := Open(ctx, st, Keys{WriteKey: e.keys.WriteKey}); err != nil {
		t.Errorf("write key on an old config: %v", err)
	}
	hk, _ = snapkey.ForHost(e.keys.WriteKey, "web1")
	if _, err := Open(ctx, st, Keys{HostKey: hk}); err == nil || !strings.Contains(err.Error(), "created before host keys") {
		t.Errorf("host key on an old config: %v", err)
	}
}

// An index entry a host plants (it holds the metadata key) pointing at a
// pack that does not exist, or past the end of one that does, is not
// deduplicated against: the next create stores the data, and check
// --read-data is clean.
func TestPlantedIndexEntries(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			ctx := context.Background()
			a := e.openHost("web1")
			dir := t.TempDir()
			src := filepath.Join(dir, "d")
			first, second := random(5000), random(7000)
			write(t, filepath.Join(src, "seed"), random(1000), 0o644)
			e.create(a, "", "", src)
			sizes, err := a.listPacks(ctx)
			if err != nil || len(sizes) == 0 {
				t.Fatalf("packs: %v %v", sizes, err)
			}
			var realPack ID
			var realSize int64
			for id, n := range sizes {
				realPack, realSize = id, n
			}
			x, err := a.LoadIndex(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var hdrLen uint32
			for _, p := range x.packs {
				if p.id == realPack {
					hdrLen = p.hdrLen
				}
			}
			var ghost ID
			copy(ghost[:], random(32))
			_, err = a.writeIndex(ctx, []indexPack{
				{info: packInfo{id: ghost, hdrLen: 100, size: 1 << 20}, blobs: []entry{{id: a.k.blobID(first), typ: DataBlob, off: 200, length: 5040, raw: 5000}}},
				{info: packInfo{id: realPack, hdrLen: hdrLen, size: uint64(realSize)}, blobs: []entry{{id: a.k.blobID(second), typ: DataBlob, off: uint32(realSize), length: 7040, raw: 7000}}},
			})
			if err != nil {
				t.Fatal(err)
			}

			write(t, filepath.Join(src, "first"), first, 0o644)
			write(t, filepath.Join(src, "second"), second, 0o644)
			logs := logTo(a)
			sn := e.create(a, "", "", src)
			if sn.Summary.NewBlobs < 2 {
				t.Errorf("create stored %d new blobs: it deduplicated against the planted entries", sn.Summary.NewBlobs)
			}
			var warned int
			for _, l := range logs() {
				if strings.Contains(l, "missing or shorter") {
					warned++
				}
			}
			if warned != 1 {
				t.Errorf("create warned %d times about the planted entries, want once:\n%s", warned, strings.Join(logs(), "\n"))
			}
			e.mustCheck()
			if res := e.check(1); !slicesContains(res.Notes, ghost.Short()+": missing") {
				t.Errorf("check does not note the ghost pack: %q", res.Notes)
			}
			out := t.TempDir()
			if _, err := e.admin.Restore(ctx, sn, "", out, 0); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string][]byte{"first": first, "second": second} {
				got, err := os.ReadFile(filepath.Join(out, src, name))
				if err != nil || string(got) != string(want) {
					t.Errorf("restored %s: %d bytes, %v", name, len(got), err)
				}
			}
			// Prune is not misled by them: it repacks from no missing pack.
			if _, err := e.admin.Prune(ctx, PruneOptions{}); err != nil {
				t.Fatalf("prune: %v", err)
			}
			e.mustCheck()
		})
	}
}

// An entry planted inside a real pack at the wrong place, chosen as the
// blob's indexed copy: reading the blob falls back to the real copy, so a
// restore is not blocked by it.
func TestPlantedEntryInsideRealPack(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "d")
	data := random(3000)
	write(t, filepath.Join(src, "a"), data, 0o644)
	write(t, filepath.Join(src, "b"), random(9000), 0o644)
	e.create(e.openHost("web1"), "", "", src)
	x, err := e.admin.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := e.admin.k.blobID(data)
	real, ok := x.find(id)
	if !ok {
		t.Fatal("the file's blob is not indexed")
	}
	// The planted copy: another blob's place in a real pack (so it passes
	// the pack and size checks), made the indexed one.
	var other entry
	for _, o := range x.entries {
		if o.id != id {
			other = o
		}
	}
	if other.length == 0 {
		t.Fatal("no other blob indexed")
	}
	planted := real
	planted.pack, planted.off, planted.length = other.pack, other.off, other.length
	i, _ := slices.BinarySearchFunc(x.entries, id, func(e entry, id ID) int { return bytes.Compare(e.id[:], id[:]) })
	x.entries[i] = planted
	x.dups = append(x.dups, real)
	got, err := e.admin.newBlobReader(x).load(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading a blob whose indexed copy is planted: %v", err)
	}
	// Without the real copy, the failure is reported, not hidden.
	x.dups = nil
	if _, err := e.admin.newBlobReader(x).load(ctx, id); err == nil {
		t.Fatal("a planted copy alone read back as the blob")
	}
}
