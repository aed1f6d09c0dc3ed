package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/retention"
	"tend/internal/store"
	"tend/internal/store/dir"
	"tend/internal/store/storetest"
)

func newLockedStore(t *testing.T) *storetest.ObjectLock {
	t.Helper()
	st, err := dir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storetest.NewObjectLock(st)
}

func keysUnder(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := st.List(context.Background(), prefix, func(i store.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func hasPrefix(prefixes ...string) func(string) bool {
	return func(k string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
}

// TestPruneObjectLock prunes and forgets on a store whose object lock
// refuses deletes: they succeed and count what was kept, every snapshot
// stays whole, prune runs again at once (the lease is not stuck), and
// once the lock releases its objects later prunes delete them all.
func TestPruneObjectLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		retain func(key string) bool
	}{
		{"everything", func(string) bool { return true }},
		{"packs", hasPrefix(prefixData)},
		{"index", hasPrefix(prefixIndex)},
		{"marks", hasPrefix(prefixMarks, prefixMarksDone)},
		{"index and marks", hasPrefix(prefixIndex, prefixMarks, prefixMarksDone)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newLockedStore(t)
			e := newEnv(t, st)
			ctx := context.Background()
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "keep"), random(1<<20), 0o644)
			write(t, filepath.Join(src, "drop"), random(1<<20), 0o644)
			old := e.create(e.host, "web1", "", src)
			os.Remove(filepath.Join(src, "drop"))
			kept := e.create(e.host, "web1", "", src)
			want := describe(t, src)
			restores := func() {
				t.Helper()
				e.mustCheck()
				out := t.TempDir()
				if _, err := e.admin.Restore(ctx, kept, "", out, 0); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, describe(t, filepath.Join(out, src))); diff != "" {
					t.Errorf("restore (-want +got):\n%s", diff)
				}
			}

			// Forget: a retained snapshot object stays, whole, and is
			// reported; a later forget deletes it.
			locked, err := e.admin.ForgetSnapshots(ctx, []ID{old.ID})
			if err != nil || len(locked) != 1 || locked[0] != old.ID {
				t.Fatalf("forget on a locked store: kept %v, %v", locked, err)
			}
			if sns, _ := e.admin.Snapshots(ctx); len(sns) != 2 {
				t.Fatalf("%d snapshots after a locked forget, want 2", len(sns))
			}
			st.Retain(func(k string) bool { return !strings.HasPrefix(k, prefixSnap) && tc.retain(k) })
			if locked, err := e.admin.ForgetSnapshots(ctx, []ID{old.ID}); err != nil || len(locked) != 0 {
				t.Fatalf("forget once released: kept %v, %v", locked, err)
			}

			// Prune under the lock: mark, delete (refused), and again at once.
			keptByLock := 0
			for i := range 4 {
				res, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1})
				if err != nil {
					t.Fatalf("prune %d on a locked store: %v", i+1, err)
				}
				keptByLock += res.KeptByLock
				restores()
			}
			if keptByLock == 0 {
				t.Error("no prune reported objects kept by the lock")
			}
			if len(keysUnder(t, st, keyLease)) == 0 && tc.name == "everything" {
				t.Error("no lease record left behind on a store that refuses every delete")
			}

			// The lock releases everything: later prunes finish the job.
			st.Retain(nil)
			for i := range 4 {
				if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err != nil {
					t.Fatalf("prune %d once released: %v", i+1, err)
				}
			}
			restores()
			res, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.MarkedBlobs+res.MarkedPacks+res.DeletedBlobs+res.OrphanPacks+res.Pending != 0 {
				t.Errorf("garbage left once the lock released it: %+v", res)
			}
			for _, p := range []string{keyLease, prefixMarks, prefixMarksDone} {
				if keys := keysUnder(t, st, p); len(keys) != 0 {
					t.Errorf("left under %s: %q", p, keys)
				}
			}
			if keys := keysUnder(t, st, prefixIndex); len(keys) != 1 {
				t.Errorf("%d index objects left, want 1", len(keys))
			}
			// Every pack left holds data the kept snapshot uses.
			x, err := e.admin.LoadIndex(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(x.dups) != 0 {
				t.Errorf("%d blobs still indexed twice", len(x.dups))
			}
			if n := len(keysUnder(t, st, prefixData)); n != len(x.packs) {
				t.Errorf("%d packs stored, %d indexed", n, len(x.packs))
			}
		})
	}
}

// TestForgetPolicyObjectLock: a policy's forget on a locked store reports
// the snapshots the lock keeps, and forgets them on a later run.
func TestForgetPolicyObjectLock(t *testing.T) {
	st := newLockedStore(t)
	e := newEnv(t, st)
	ctx := context.Background()
	src := t.TempDir()
	write(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		if _, err := e.host.Create(ctx, CreateOptions{Paths: []string{src}, Host: "mx", Time: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	p := retention.Policy{Last: 1}
	groups, err := e.admin.ForgetPolicy(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, d := range groups[0].Decisions {
		if d.Locked {
			locked++
		}
		if d.Keep && d.Locked {
			t.Errorf("kept snapshot %s marked locked", d.Snapshot.ID.Short())
		}
	}
	if locked != 3 {
		t.Errorf("%d decisions kept by the lock, want 3", locked)
	}
	st.Retain(nil)
	if _, err := e.admin.ForgetPolicy(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	if sns, _ := e.admin.Snapshots(ctx); len(sns) != 1 {
		t.Errorf("%d snapshots left once the lock released them, want 1", len(sns))
	}
}

// gateList makes the first n lease listings wait until all n have
// arrived: every acquire has written its record before any lists.
type gateList struct {
	store.Store
	n       int32
	arrived atomic.Int32
	all     chan struct{}
}

func (g *gateList) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if prefix == keyLease {
		if n := g.arrived.Add(1); n <= g.n {
			if n == g.n {
				close(g.all)
			}
			<-g.all
		}
	}
	return g.Store.List(ctx, prefix, fn)
}

func TestLeaseObjectLock(t *testing.T) {
	ctx := context.Background()
	acquireTwo := func(t *testing.T, st store.Store, e *env) (winner func(), errs []error) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 2 {
			r, err := Open(ctx, st, e.keys)
			if err != nil {
				t.Fatal(err)
			}
			r.Logf = t.Logf
			wg.Add(1)
			go func() {
				defer wg.Done()
				release, err := r.acquireLease(ctx, time.Minute, nil)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else {
					winner = release
				}
			}()
		}
		wg.Wait()
		return winner, errs
	}
	t.Run("concurrent acquires: exactly one wins", func(t *testing.T) {
		for _, gated := range []bool{true, false} {
			t.Run(fmt.Sprintf("both written before either lists=%v", gated), func(t *testing.T) {
				locked := newLockedStore(t)
				e := newEnv(t, locked)
				for round := range 3 {
					var st store.Store = locked
					if gated {
						st = &gateList{Store: locked, n: 2, all: make(chan struct{})}
					}
					winner, errs := acquireTwo(t, st, e)
					if winner == nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), "another prune holds the lease") {
						t.Fatalf("round %d: winner %v, errors %v", round, winner != nil, errs)
					}
					// The winner holds: a third acquire fails, saying whose.
					if _, err := e.admin.acquireLease(ctx, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "another prune holds the lease") {
						t.Errorf("round %d: acquire while held: %v", round, err)
					}
					winner()
				}
			})
		}
	})
	t.Run("a killed prune's lease blocks until it expires", func(t *testing.T) {
		for _, key := range []string{keyLease, fmt.Sprintf("%s%020d-dead", prefixLease, time.Now().UnixNano())} {
			t.Run(key, func(t *testing.T) {
				st := newLockedStore(t)
				e := newEnv(t, st)
				rec := fmt.Sprintf(`{"owner":"dead pid 1","token":"dead","expires":%q}`, time.Now().Add(LeaseTTL).UTC().Format(time.RFC3339Nano))
				put(t, st, key, []byte(rec))
				if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err == nil || !strings.Contains(err.Error(), "another prune holds the lease (dead pid 1, until") {
					t.Fatalf("prune while a killed prune's lease is live: %v", err)
				}
				var logs []string
				e.admin.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
				later := func() time.Time { return time.Now().Add(LeaseTTL + time.Minute) }
				for i := range 2 {
					if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1, leaseNow: later}); err != nil {
						t.Fatalf("prune %d once the lease expired: %v", i+1, err)
					}
				}
				if !slicesContains(logs, "taking over a stale prune lease held by dead pid 1") {
					t.Errorf("logs: %q", logs)
				}
				// Where deletes work, the stale and the released records go.
				st.Retain(nil)
				if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1, leaseNow: later}); err != nil {
					t.Fatal(err)
				}
				if keys := keysUnder(t, st, keyLease); len(keys) != 0 {
					t.Errorf("lease records left: %q", keys)
				}
			})
		}
	})
}

// TestLockedMarkActedOnOnce: a mark the lock keeps after a prune acted on
// it is not acted on again. Its blobs, stored anew by a later create and
// garbage again, get a fresh mark and the full min-age before deletion.
func TestLockedMarkActedOnOnce(t *testing.T) {
	st := newLockedStore(t)
	st.Retain(hasPrefix(prefixMarks))
	e := newEnv(t, st)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "data")
	write(t, filepath.Join(src, "f"), random(100000), 0o644)
	sn := e.create(e.host, "web1", "", src)
	if _, err := e.admin.ForgetSnapshots(ctx, []ID{sn.ID}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // mark, then delete the data; the mark stays
		if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if keys := keysUnder(t, st, prefixMarks); len(keys) != 1 {
		t.Fatalf("marks: %q, want the one the lock keeps", keys)
	}
	sn = e.create(e.host, "web1", "", src)
	if sn.Summary.NewBlobs == 0 {
		t.Fatal("create reused blobs a prune deleted")
	}
	if _, err := e.admin.ForgetSnapshots(ctx, []ID{sn.ID}); err != nil {
		t.Fatal(err)
	}
	res, err := e.admin.Prune(ctx, PruneOptions{MinAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedBlobs != 0 || res.MarkedBlobs == 0 {
		t.Errorf("prune with an acted-on mark kept by the lock: %+v, want only a fresh mark", res)
	}
	e.mustCheck()
}
