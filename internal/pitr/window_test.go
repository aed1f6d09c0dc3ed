package pitr

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus minutes, with a fraction of a second so that the
// whole-second rounding of S3 times does not apply.
func at(minutes int) time.Time {
	return t0.Add(time.Duration(minutes)*time.Minute + 250*time.Millisecond)
}

// walRun is segments first..last, segment n archived at minute 10*n.
func walRun(first, last uint64) []WALObject {
	var out []WALObject
	for no := first; no <= last; no++ {
		out = append(out, WALObject{Name: segName(no), Hash: "h", ModTime: at(int(10 * no))})
	}
	return out
}

// backupAt is a backup starting in segment start and stopping in segment
// stop at minute stopMin.
func backupAt(id string, start, stop uint64, stopMin int) Backup {
	return Backup{ID: id, Timeline: 1, SegSize: segSize,
		StartLSN: lsnIn(start, 40), StopLSN: lsnIn(stop, 4096),
		StartTime: at(stopMin - 1), StopTime: at(stopMin)}
}

func TestWindows(t *testing.T) {
	b := backupAt("b", 10, 11, 105) // segment 11 is archived at minute 110
	included := b
	included.WALIncluded = true
	cat := func(runs ...[]WALObject) []WALObject {
		var out []WALObject
		for _, r := range runs {
			out = append(out, r...)
		}
		return out
	}
	tests := []struct {
		name   string
		backup Backup
		wal    []WALObject
		want   Window
	}{
		{"continuous", b, walRun(5, 20),
			Window{From: at(105), To: at(200), Last: segName(20), Missing: segName(21), Usable: true}},
		{"other files do not count", b, cat(walRun(10, 12), []WALObject{
			{Name: segName(13) + ".partial", ModTime: at(500)},
			{Name: "00000002.history", ModTime: at(600)},
			{Name: segName(10) + ".00000028.backup", ModTime: at(700)},
			{Name: Segment{TLI: 2, No: 13}.Name(segSize), ModTime: at(800)},
		}),
			Window{From: at(105), To: at(120), Last: segName(12), Missing: segName(13), Usable: true}},
		{"start segment missing", b, walRun(11, 20),
			Window{From: at(105), Missing: segName(10), Usable: false, Gap: true}},
		{"stop segment missing", b, cat(walRun(10, 10), walRun(12, 20)),
			Window{From: at(105), Last: segName(10), Missing: segName(11), Usable: false, Gap: true}},
		{"stop segment missing, nothing later", b, walRun(10, 10),
			Window{From: at(105), Last: segName(10), Missing: segName(11), Usable: false}},
		{"no WAL at all", b, nil,
			Window{From: at(105), Missing: segName(10), Usable: false}},
		{"WAL included needs none up to its stop", included, walRun(12, 15),
			Window{From: at(105), To: at(150), Last: segName(15), Missing: segName(16), Usable: true}},
		{"WAL included, nothing after", included, nil,
			Window{From: at(105), To: at(105), Last: segName(11), Missing: segName(12), Usable: true}},
		{"a gap after the stop", b, cat(walRun(10, 14), walRun(16, 20)),
			Window{From: at(105), To: at(140), Last: segName(14), Missing: segName(15), Usable: true, Gap: true}},
		{"only up to the stop, archived before it", backupAt("b", 10, 11, 115), walRun(10, 11),
			Window{From: at(115), To: at(115), Last: segName(11), Missing: segName(12), Usable: true}},
		{"whole-second times are rounded up within their second", b, []WALObject{
			{Name: segName(10), ModTime: t0.Add(100 * time.Minute)},
			{Name: segName(11), ModTime: t0.Add(110 * time.Minute)},
		}, Window{From: at(105), To: t0.Add(110*time.Minute + time.Second - time.Nanosecond), Last: segName(11), Missing: segName(12), Usable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := Windows([]Backup{tt.backup}, tt.wal)
			if len(ws) != 1 {
				t.Fatalf("%d windows, want 1", len(ws))
			}
			tt.want.Backup = tt.backup
			if diff := cmp.Diff(tt.want, ws[0], cmpopts.EquateApproxTime(0)); diff != "" {
				t.Errorf("window (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	// b1 stops at 105 and restores to 150 (segment 16 is missing); b2
	// stops at 205 and restores to 300; b3 stops at 255, in b2's window;
	// b4 is newest but lacks its stop segment.
	wal := append(walRun(10, 15), walRun(20, 30)...)
	ws := Windows([]Backup{
		backupAt("b1", 10, 11, 105),
		backupAt("b3", 25, 25, 255),
		backupAt("b2", 20, 20, 205),
		backupAt("b4", 40, 41, 405),
	}, wal)
	window := "the restorable window is 2026-03-01T01:45:00Z to 2026-03-01T05:00:00Z"
	tests := []struct {
		name   string
		target Target
		want   string // backup ID, or the error's text
	}{
		{"latest", Target{Latest: true}, "b3"},
		{"b1's stop", Target{Time: at(105)}, "b1"},
		{"inside b1", Target{Time: at(130)}, "b1"},
		{"b1's end", Target{Time: at(150)}, "b1"},
		{"b2's stop", Target{Time: at(205)}, "b2"},
		{"before b3 ends", Target{Time: at(254)}, "b2"},
		{"b3's stop", Target{Time: at(255)}, "b3"},
		{"the end", Target{Time: at(300)}, "b3"},
		{"before everything", Target{Time: at(104)}, "2026-03-01T01:44:00Z is before the oldest restorable time: " + window},
		{"long before", Target{Time: t0.Add(-48 * time.Hour)}, "is before the oldest restorable time: " + window},
		{"after the end", Target{Time: at(301)}, "2026-03-01T05:01:00Z is after the latest restorable time: " + window},
		{"in the hole", Target{Time: at(151)}, "2026-03-01T02:31:00Z falls in a hole of the archive (missing WAL): " + window},
		{"just before b2", Target{Time: at(204)}, "falls in a hole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Choose(ws, tt.target)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = w.Backup.ID
			}
			if !strings.Contains(got, tt.want) || (err == nil) != strings.HasPrefix(tt.want, "b") {
				t.Errorf("Choose(%s) = %q, want %q", tt.target, got, tt.want)
			}
		})
	}
	t.Run("nothing restorable", func(t *testing.T) {
		_, err := Choose(Windows([]Backup{backupAt("b1", 10, 11, 105), backupAt("b2", 20, 21, 205)}, walRun(10, 10)), Target{Latest: true})
		if err == nil || !strings.Contains(err.Error(), "no base backup is restorable") || !strings.Contains(err.Error(), segName(20)+" is missing for the newest") {
			t.Errorf("Choose with no usable backup: %v", err)
		}
	})
	t.Run("no backup", func(t *testing.T) {
		_, err := Choose(nil, Target{Latest: true})
		if err == nil || !strings.Contains(err.Error(), "no complete base backup") {
			t.Errorf("Choose with no backup: %v", err)
		}
	})
	t.Run("span", func(t *testing.T) {
		from, to, ok := Span(ws)
		if !ok || !from.Equal(at(105)) || !to.Equal(at(300)) {
			t.Errorf("Span = %s, %s, %v; want minutes 105 to 300", from, to, ok)
		}
		if _, _, ok := Span(ws[3:]); ok {
			t.Error("Span of an unusable backup only is ok")
		}
	})
}
