package pitr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/store/storetest"
)

// TestPruneObjectLock prunes the retention simulation's month on a store
// whose object lock keeps some of what the plan deletes: the prune
// succeeds and counts it, a backup whose manifest stays keeps the WAL it
// needs, check stays clean, and once the lock releases everything a
// later prune leaves what an unlocked store would have.
func TestPruneObjectLock(t *testing.T) {
	s := newRetentionSim(t)
	ctx := testCtx(t)
	keep := Keep{Count: 3, Within: 7 * 24 * time.Hour}
	locked := storetest.NewObjectLock(s.a.Store)
	s.a.Store = locked
	retained := map[string]bool{}
	for d := 15; d <= 21; d++ { // young enough: the lock keeps their manifests
		retained[backupPrefix+simID(d)+"/backup.json"] = true
	}
	parts3 := keysUnder(t, locked, backupPrefix+simID(3)+"/part")
	for _, k := range parts3 { // an older backup: only its parts are retained
		retained[k] = true
	}
	wal5 := keysUnder(t, locked, walPrefix+segName(5)+"/")
	retained[wal5[0]] = true
	locked.Retain(func(k string) bool { return retained[k] })

	prune := func() (*PrunePlan, LockKept) {
		t.Helper()
		ws, inc, wal, err := s.a.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := PlanPrune(ws, wal, inc, keep, s.now)
		if err != nil {
			t.Fatal(err)
		}
		kept, err := s.a.Prune(ctx, plan)
		if err != nil {
			t.Fatalf("prune on a locked store: %v", err)
		}
		return plan, kept
	}
	clean := func() []Window {
		t.Helper()
		problems, err := s.a.Check(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) > 0 {
			t.Errorf("check after a locked prune:\n%s", strings.Join(problems, "\n"))
		}
		ws, _, _, err := s.a.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}

	plan, kept := prune()
	var walNeeded int // WAL the plan deletes that the kept backups need
	for _, o := range plan.DeleteWAL {
		if no, ok := walNo(o.Name, segSize); ok && no >= simStartSeg(15) {
			walNeeded++
		}
	}
	want := LockKept{Backups: 7, Parts: len(parts3), WAL: walNeeded + 1}
	if kept != want {
		t.Errorf("kept %+v, want %+v", kept, want)
	}
	ws := clean()
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.Backup.ID)
		if !w.Usable {
			t.Errorf("backup %s is not restorable after a locked prune", w.Backup.ID)
		}
	}
	var wantIDs []string
	for d := 15; d < simDays; d++ {
		wantIDs = append(wantIDs, simID(d))
	}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("backups after a locked prune (-want +got):\n%s", diff)
	}
	// A time only a kept backup covers is still restorable.
	if w, err := Choose(ws, Target{Time: t0.Add(16*24*time.Hour + 5*time.Hour)}); err != nil || w.Backup.ID != simID(16) {
		t.Errorf("day 16 after a locked prune: %v", err)
	}

	// Pruning again while locked keeps the same, and fails on nothing.
	if _, kept := prune(); kept.Backups != 7 {
		t.Errorf("second locked prune kept %+v", kept)
	}
	clean()

	// The lock releases: a later prune deletes what it kept (the parts
	// left of day 3 are an incomplete backup, deleted once a day old).
	for _, k := range parts3 {
		old := s.now.Add(-49 * time.Hour)
		if err := os.Chtimes(filepath.Join(s.root, filepath.FromSlash(k)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	locked.Retain(nil)
	if _, kept := prune(); kept.Total() != 0 {
		t.Errorf("prune once released kept %+v", kept)
	}
	ws = clean()
	ids = nil
	for _, w := range ws {
		ids = append(ids, w.Backup.ID)
	}
	wantIDs = wantIDs[22-15:]
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("backups once released (-want +got):\n%s", diff)
	}
	if keys := keysUnder(t, locked, backupPrefix+simID(3)+"/"); len(keys) != 0 {
		t.Errorf("parts left once released: %q", keys)
	}
	if again, kept := prune(); len(again.Delete)+len(again.DeleteWAL)+kept.Total() != 0 {
		t.Errorf("a further prune still deletes: %d backups, %d WAL files (kept %+v)", len(again.Delete), len(again.DeleteWAL), kept)
	}
}
