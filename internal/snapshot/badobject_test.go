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
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/retention"
	"tend/internal/store"
)

func put(t *testing.T, st store.Store, key string, data []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// Garbage and foreign objects planted in the store (what a host with
// create-only rights can do) do not block list, restore or forget; check
// reports every one and fails; prune deletes no data on their basis.
func TestSnapshotBadObjects(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, newStore(t, kind))
			ctx := context.Background()
			var mu sync.Mutex
			var warnings []string
			e.admin.Logf = func(f string, a ...any) {
				mu.Lock()
				warnings = append(warnings, fmt.Sprintf(f, a...))
				mu.Unlock()
			}
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "keep"), random(200000), 0o644)
			write(t, filepath.Join(src, "drop"), random(200000), 0o644)
			old := e.create(e.host, "web1", "", src)
			os.Remove(filepath.Join(src, "drop"))
			intact := e.create(e.host, "web1", "", src)

			garbage := random(300)
			foreignName := hex.EncodeToString(func() []byte { h := sha256.Sum256(garbage); return h[:] }())
			damagedName := hex.EncodeToString(random(32))
			// A well-formed snapshot MAC'd with another write key.
			other := *intact
			other.Host, other.MAC = "web1", strings.Repeat("00", 32)
			otherJSON, _ := json.MarshalIndent(&other, "", "  ")
			otherName := hex.EncodeToString(func() []byte { h := sha256.Sum256(otherJSON); return h[:] }())
			planted := map[string][]byte{
				prefixSnap + foreignName:                     garbage,   // content matches its name, not a snapshot
				prefixSnap + damagedName:                     garbage,   // content does not match its name
				prefixSnap + otherName:                       otherJSON, // wrong key
				prefixSnap + "README":                        []byte("hello"),
				prefixIndex + hex.EncodeToString(random(32)): random(500),
			}
			for k, v := range planted {
				put(t, e.st, k, v)
			}

			put(t, e.st, prefixDrill+"9999-garbage.json", random(100)) // sorts last: read as the last drill

			// list: the two snapshots, a warning per bad snapshot object.
			l, err := e.admin.List(ctx)
			if err != nil {
				t.Fatalf("list with garbage in the store: %v", err)
			}
			if len(l.Snapshots) != 2 {
				t.Errorf("list gave %d snapshots, want 2", len(l.Snapshots))
			}
			for _, k := range []string{foreignName, damagedName, otherName, "README", "9999-garbage"} {
				if !slicesContains(warnings, k) {
					t.Errorf("no warning names %s; warnings: %q", k, warnings)
				}
			}

			// restore by full ID, by prefix and as latest.
			for _, ref := range []string{intact.ID.String(), intact.ID.String()[:8], "latest"} {
				out := t.TempDir()
				if _, _, err := e.admin.RestoreRef(ctx, ref, "", out); err != nil {
					t.Fatalf("restore %s with garbage in the store: %v", ref, err)
				}
				if diff := cmp.Diff(describe(t, src), describe(t, filepath.Join(out, src))); diff != "" {
					t.Errorf("restore %s differs (-want +got):\n%s", ref, diff)
				}
			}
			// Naming a bad object says what it is.
			if _, err := e.admin.Find(ctx, damagedName); err == nil || !strings.Contains(err.Error(), "does not match its name") {
				t.Errorf("find of the damaged object: %v", err)
			}

			// check reports every planted object and fails.
			res := e.check(1)
			for k := range planted {
				if !slicesContains(res.Problems, k) {
					t.Errorf("check does not report %s; problems:\n%s", k, strings.Join(res.Problems, "\n"))
				}
			}

			// forget by policy keeps the bad objects (decides on readable
			// snapshots only) and forgets the old snapshot.
			if _, err := e.admin.ForgetPolicy(ctx, retention.Policy{Last: 1}, false); err != nil {
				t.Fatalf("forget with garbage in the store: %v", err)
			}
			for k := range planted {
				if _, err := e.st.Stat(ctx, k); err != nil {
					t.Errorf("forget touched %s: %v", k, err)
				}
			}
			// prune refuses on the bad index object (its packs must not be
			// taken for unindexed ones) ...
			if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err == nil {
				t.Errorf("prune with a bad index object succeeded")
			}
			// ... and with only bad snapshot objects, deletes no blob while
			// one may be a damaged snapshot of ours.
			if err := e.st.Delete(ctx, prefixIndex+firstKey(planted, prefixIndex)); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				res, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1})
				if err != nil {
					t.Fatalf("prune with garbage snapshots: %v", err)
				}
				if res.MarkedBlobs+res.DeletedBlobs != 0 {
					t.Errorf("prune marked %d and deleted %d blobs with a damaged snapshot object present", res.MarkedBlobs, res.DeletedBlobs)
				}
			}
			// Once the damaged object is removed, the old data goes.
			if err := e.st.Delete(ctx, prefixSnap+damagedName); err != nil {
				t.Fatal(err)
			}
			var deleted int
			for range 2 {
				res, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1})
				if err != nil {
					t.Fatal(err)
				}
				deleted += res.DeletedBlobs
			}
			if deleted == 0 {
				t.Errorf("prune deleted nothing of the forgotten snapshot %s", old.ID.Short())
			}
			out := t.TempDir()
			if _, _, err := e.admin.RestoreRef(ctx, intact.ID.String(), "", out); err != nil {
				t.Fatalf("restore after prune: %v", err)
			}
		})
	}
}

func slicesContains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func firstKey(m map[string][]byte, prefix string) string {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return strings.TrimPrefix(k, prefix)
		}
	}
	return ""
}
