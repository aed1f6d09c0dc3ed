package pitr

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/store/dir"
)

var update = flag.Bool("update", false, "rewrite the reference files in testdata/")

// retentionSim is a month of a cluster's life in a directory store: one
// base backup a day at 03:00 for 30 days, one WAL segment an hour, a
// timeline history file, backup history files, and two failed backups.
type retentionSim struct {
	a    *Archive
	root string
	now  time.Time
}

const (
	simDays  = 30
	simHours = simDays*24 - 12 // now is the last day at 12:00
)

// simID names day d's backup so that IDs sort in the opposite order of
// the backups' times.
func simID(d int) string { return fmt.Sprintf("b%02d", 99-d) }

// simStartSeg is the segment day d's backup starts (and stops) in.
func simStartSeg(d int) uint64 { return uint64(d*24 + 3) }

// segment k is archived at the end of hour k.
func simArchived(k uint64) time.Time { return t0.Add(time.Duration(k+1) * time.Hour) }

func newRetentionSim(t *testing.T) *retentionSim {
	t.Helper()
	root := t.TempDir()
	st, err := dir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s := &retentionSim{a: newArchive(t, st), root: root, now: t0.Add(simHours * time.Hour)}
	touch := func(key string, mod time.Time) {
		t.Helper()
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(key)), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	pushAt := func(name string, mod time.Time) {
		t.Helper()
		data := []byte(name)
		mustPush(t, s.a, name, data)
		touch(walPrefix+name+"/"+hashOf(data), mod)
	}
	for k := uint64(0); k < simHours; k++ {
		pushAt(segName(k), simArchived(k))
	}
	pushAt("00000002.history", t0)
	for _, d := range []int{0, 21, 22} {
		pushAt(segName(simStartSeg(d))+".00000028.backup", simArchived(simStartSeg(d)))
	}
	for d := 0; d < simDays; d++ {
		k := simStartSeg(d)
		start := t0.Add(time.Duration(d*24+3) * time.Hour)
		storeBackup(t, s.a, simID(d), []byte(fmt.Sprintf("day %d", d)), 4, true, Backup{
			Host: "db1", Cluster: "15/main", Timeline: 1,
			StartLSN: lsnIn(k, 40), StopLSN: lsnIn(k, 1<<20), StartTime: start, StopTime: start.Add(10 * time.Minute),
		})
	}
	for id, mod := range map[string]time.Time{"inc-old": s.now.Add(-49 * time.Hour), "inc-new": s.now.Add(-time.Hour)} {
		storeBackup(t, s.a, id, []byte("killed"), 4, false, Backup{})
		for _, k := range keysUnder(t, st, backupPrefix+id+"/") {
			touch(k, mod)
		}
	}
	return s
}

// renderPlan is the plan as the reference file holds it.
func renderPlan(p *PrunePlan) string {
	var b strings.Builder
	for _, k := range p.Keep {
		fmt.Fprintf(&b, "keep    %s  stop %s  %s\n", k.ID, k.StopTime.Format(time.RFC3339), p.Reasons[k.ID])
	}
	for _, d := range p.Delete {
		fmt.Fprintf(&b, "delete  %s  stop %s\n", d.ID, d.StopTime.Format(time.RFC3339))
	}
	for _, i := range p.Incomplete {
		fmt.Fprintf(&b, "delete  incomplete %s  last written %s\n", i.ID, i.ModTime.UTC().Format(time.RFC3339))
	}
	var first, last string
	n := 0
	for _, o := range p.DeleteWAL {
		if len(o.Name) == 24 {
			if first == "" {
				first = o.Name
			}
			last = o.Name
			n++
		} else {
			fmt.Fprintf(&b, "delete  WAL %s\n", o.Name)
		}
	}
	fmt.Fprintf(&b, "delete  WAL %d segments, %s to %s\n", n, first, last)
	return b.String()
}

func TestRetention(t *testing.T) {
	s := newRetentionSim(t)
	ctx := testCtx(t)
	keep := Keep{Count: 3, Within: 7 * 24 * time.Hour}
	before, inc, wal, err := s.a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != simDays || len(inc) != 2 {
		t.Fatalf("loaded %d backups and %d incomplete, want %d and 2", len(before), len(inc), simDays)
	}
	// Before pruning, the middle of the month is restorable.
	if _, err := Choose(before, Target{Time: t0.Add(10*24*time.Hour + 5*time.Hour)}); err != nil {
		t.Fatalf("before pruning: %v", err)
	}
	plan, err := PlanPrune(before, wal, inc, keep, s.now)
	if err != nil {
		t.Fatal(err)
	}

	// The exact survivors, newest first, and why.
	within := "within 168h0m0s"
	wantReasons := map[string]string{
		simID(29): "one of the 3 newest", simID(28): "one of the 3 newest", simID(27): "one of the 3 newest",
		simID(26): within, simID(25): within, simID(24): within, simID(23): within,
		simID(22): "the base of the oldest times within 168h0m0s",
	}
	var kept, deleted []string
	for _, b := range plan.Keep {
		kept = append(kept, b.ID)
	}
	for _, b := range plan.Delete {
		deleted = append(deleted, b.ID)
	}
	var wantKept, wantDeleted []string
	for d := simDays - 1; d >= 0; d-- {
		if d >= 22 {
			wantKept = append(wantKept, simID(d))
		} else {
			wantDeleted = append(wantDeleted, simID(d))
		}
	}
	if diff := cmp.Diff(wantKept, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantReasons, plan.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDeleted, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if len(plan.Incomplete) != 1 || plan.Incomplete[0].ID != "inc-old" {
		t.Errorf("incomplete backups deleted: %+v, want only inc-old", plan.Incomplete)
	}
	// WAL: everything before the oldest kept backup's start segment.
	oldestStart := simStartSeg(22)
	var wantWAL []string
	for k := uint64(0); k < oldestStart; k++ {
		wantWAL = append(wantWAL, segName(k))
		if k == simStartSeg(0) || k == simStartSeg(21) {
			wantWAL = append(wantWAL, segName(k)+".00000028.backup")
		}
	}
	var gotWAL []string
	for _, o := range plan.DeleteWAL {
		gotWAL = append(gotWAL, o.Name)
	}
	if diff := cmp.Diff(wantWAL, gotWAL); diff != "" {
		t.Errorf("WAL deleted (-want +got):\n%s", diff)
	}

	golden := filepath.Join("testdata", "retention.golden")
	text := renderPlan(plan)
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), text); diff != "" {
		t.Errorf("plan differs from %s (-want +got):\n%s", golden, diff)
	}

	if _, err := s.a.Prune(ctx, plan); err != nil {
		t.Fatal(err)
	}

	after, inc, wal, err := s.a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, w := range after {
		left = append(left, w.Backup.ID)
	}
	slices.Reverse(left)
	if diff := cmp.Diff(wantKept, left); diff != "" {
		t.Errorf("backups left (-want +got):\n%s", diff)
	}
	if len(inc) != 1 || inc[0].ID != "inc-new" {
		t.Errorf("incomplete left: %+v, want inc-new", inc)
	}
	for _, id := range wantDeleted {
		if keys := keysUnder(t, s.a.Store, backupPrefix+id+"/"); len(keys) != 0 {
			t.Errorf("deleted backup %s left %q", id, keys)
		}
	}
	var wantLeft []string
	for k := oldestStart; k < simHours; k++ {
		wantLeft = append(wantLeft, segName(k))
		if k == simStartSeg(22) {
			wantLeft = append(wantLeft, segName(k)+".00000028.backup")
		}
	}
	wantLeft = append(wantLeft, "00000002.history")
	var walLeft []string
	for _, o := range wal {
		walLeft = append(walLeft, o.Name)
	}
	if diff := cmp.Diff(wantLeft, walLeft); diff != "" {
		t.Errorf("WAL left (-want +got):\n%s", diff)
	}

	// Every time in the last 7 days is restorable, from the newest backup
	// that ended before it.
	for ti := s.now.Add(-keep.Within); !ti.After(s.now); ti = ti.Add(7 * time.Minute) {
		w, err := Choose(after, Target{Time: ti})
		if err != nil {
			t.Errorf("after pruning, %s: %v", ti.Format(time.RFC3339), err)
			continue
		}
		d := int(ti.Sub(t0.Add(3*time.Hour+10*time.Minute)) / (24 * time.Hour))
		if w.Backup.ID != simID(d) {
			t.Errorf("after pruning, %s is restored from %s, want %s (day %d)", ti.Format(time.RFC3339), w.Backup.ID, simID(d), d)
		}
	}
	if _, err := Choose(after, Target{Time: s.now}); err != nil {
		t.Errorf("now is not restorable: %v", err)
	}
	// Before the oldest kept backup's end: refused, naming the window.
	oldest := t0.Add(22*24*time.Hour + 3*time.Hour + 10*time.Minute)
	_, err = Choose(after, Target{Time: oldest.Add(-time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "before the oldest restorable time: the restorable window is "+oldest.Format(time.RFC3339)+" to ") {
		t.Errorf("a time before the oldest kept backup: %v", err)
	}
	if _, err := Choose(after, Target{Time: t0.Add(10*24*time.Hour + 5*time.Hour)}); err == nil {
		t.Error("the middle of the month is still restorable after pruning")
	}

	// Pruning again changes nothing.
	again, err := PlanPrune(after, wal, inc, keep, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Delete) != 0 || len(again.DeleteWAL) != 0 || len(again.Incomplete) != 0 {
		t.Errorf("a second prune would delete %d backups, %d WAL files, %d incomplete", len(again.Delete), len(again.DeleteWAL), len(again.Incomplete))
	}
}

func TestPlanPrune(t *testing.T) {
	now := at(1000)
	// b-new is the newest but unusable (its stop segment 41 is missing);
	// b-mid and b-old are usable.
	wal := append(walRun(10, 30), walRun(40, 40)...)
	ws := Windows([]Backup{backupAt("b-new", 40, 41, 405), backupAt("b-mid", 20, 20, 205), backupAt("b-old", 10, 11, 105)}, wal)
	tests := []struct {
		name    string
		keep    Keep
		reasons map[string]string
		walFrom uint64 // the first segment kept
	}{
		{"count 1 keeps the newest usable too", Keep{Count: 1},
			map[string]string{"b-new": "one of the 1 newest", "b-mid": "the newest usable backup"}, 20},
		{"count 3", Keep{Count: 3},
			map[string]string{"b-new": "one of the 3 newest", "b-mid": "one of the 3 newest", "b-old": "one of the 3 newest"}, 10},
		{"within, edge after every backup", Keep{Within: time.Hour},
			map[string]string{"b-mid": "the base of the oldest times within 1h0m0s"}, 20},
		{"within, edge between backups", Keep{Within: 700 * time.Minute},
			map[string]string{"b-new": "within 11h40m0s", "b-mid": "the base of the oldest times within 11h40m0s"}, 20},
		{"within, edge on a stop time", Keep{Within: 795 * time.Minute},
			map[string]string{"b-new": "within 13h15m0s", "b-mid": "within 13h15m0s", "b-old": "the base of the oldest times within 13h15m0s"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanPrune(ws, wal, nil, tt.keep, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.reasons, p.Reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if len(p.Keep)+len(p.Delete) != len(ws) {
				t.Errorf("%d kept and %d deleted of %d", len(p.Keep), len(p.Delete), len(ws))
			}
			for _, b := range p.Delete {
				if _, ok := tt.reasons[b.ID]; ok {
					t.Errorf("%s is both kept and deleted", b.ID)
				}
			}
			for _, o := range wal {
				no, _ := walNo(o.Name, segSize)
				deleted := slices.ContainsFunc(p.DeleteWAL, func(d WALObject) bool { return d.Name == o.Name })
				if deleted != (no < tt.walFrom) {
					t.Errorf("%s deleted: %v, want %v", o.Name, deleted, no < tt.walFrom)
				}
			}
		})
	}
	t.Run("keeps nothing", func(t *testing.T) {
		if _, err := PlanPrune(ws, wal, nil, Keep{}, now); err == nil {
			t.Error("a retention that keeps nothing was accepted")
		}
	})
	t.Run("no backup: no WAL deleted", func(t *testing.T) {
		p, err := PlanPrune(nil, wal, nil, Keep{Count: 1}, now)
		if err != nil || len(p.DeleteWAL) != 0 {
			t.Errorf("with no backup, the plan deletes %d WAL files (%v)", len(p.DeleteWAL), err)
		}
	})
}
