package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/store/s3"
	"tend/internal/store/storetest"
)

// The same on a real server: a versitygw bucket under a compliance-mode
// Object Lock, protected by tend store protect. The store's refusals
// reach prune and forget as store.ErrLocked; both succeed, count what was
// kept, and the kept snapshot still restores whole.
func TestPruneRealObjectLock(t *testing.T) {
	ctx := context.Background()
	srv := storetest.StartS3(t, "versitygw")
	bucket := srv.NewLockedBucket(t)
	st := srv.NewStoreFor(t, bucket, "files")
	hostKey, _ := srv.NewAccount(t)
	e := newEnv(t, st)
	src := filepath.Join(t.TempDir(), "data")
	write(t, filepath.Join(src, "keep"), random(1<<20), 0o644)
	write(t, filepath.Join(src, "drop"), random(1<<20), 0o644)
	old := e.create(e.host, "web1", "", src)
	os.Remove(filepath.Join(src, "drop"))
	kept := e.create(e.host, "web1", "", src)
	want := describe(t, src)

	// Forgotten before the lock, so that prune has garbage to delete;
	// then the bucket is locked (versitygw's retention covers every
	// object of the bucket from then on).
	if err := e.admin.Forget(ctx, []ID{old.ID}); err != nil {
		t.Fatal(err)
	}
	if err := st.Protect(ctx, s3.ProtectOptions{Hosts: []string{hostKey}, Lock: s3.Compliance, Retention: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if locked, err := e.admin.ForgetSnapshots(ctx, []ID{kept.ID}); err != nil || len(locked) != 1 {
		t.Fatalf("forget under a compliance lock: kept %v, %v", locked, err)
	}
	total := 0
	for i := range 2 {
		res, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1})
		if err != nil {
			t.Fatalf("prune %d under a compliance lock: %v", i+1, err)
		}
		total += res.KeptByLock
	}
	if total == 0 {
		t.Error("no prune reported objects kept by the lock")
	}
	e.mustCheck()
	out := t.TempDir()
	if _, err := e.admin.Restore(ctx, kept, "", out, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, describe(t, filepath.Join(out, src))); diff != "" {
		t.Errorf("restore after prunes under the lock (-want +got):\n%s", diff)
	}
}
