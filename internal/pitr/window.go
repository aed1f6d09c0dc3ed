package pitr

import (
	"context"
	"fmt"
	"sort"
	"time"

	"tend/internal/hint"
)

// Window is the span of times one base backup restores to: from its stop
// time to the time the last segment of an unbroken run of WAL after it was
// archived. Timelines are not followed: a backup restores along its own
// timeline (take a new base backup after promoting a restored copy).
type Window struct {
	Backup  Backup
	From    time.Time
	To      time.Time
	Last    string // the last segment of the unbroken run
	Missing string // the first segment missing: before the stop segment the backup is unusable; after, a gap if later ones exist
	Usable  bool   // the WAL up to the backup's stop segment is all there
	Gap     bool   // segments after Missing are archived: the archive is broken there
}

// Windows computes each backup's window from the archived WAL.
func Windows(backups []Backup, wal []WALObject) []Window {
	type seen struct {
		mod time.Time
	}
	byTLI := map[uint32]map[uint64]seen{}
	maxNo := map[uint32]uint64{}
	size := int64(DefaultSegmentSize)
	if len(backups) > 0 {
		size = backups[0].SegSize
	}
	for _, o := range wal {
		s, ok := ParseSegment(o.Name, size)
		if !ok {
			continue
		}
		m := byTLI[s.TLI]
		if m == nil {
			m = map[uint64]seen{}
			byTLI[s.TLI] = m
		}
		mod := o.ModTime
		if mod.Nanosecond() == 0 {
			// S3 keeps whole seconds: the upload ended within that second.
			mod = mod.Add(time.Second - time.Nanosecond)
		}
		if old, dup := m[s.No]; !dup || mod.After(old.mod) {
			m[s.No] = seen{mod}
		}
		if s.No > maxNo[s.TLI] {
			maxNo[s.TLI] = s.No
		}
	}
	var out []Window
	for _, b := range backups {
		w := Window{Backup: b, From: b.StopTime}
		m := byTLI[b.Timeline]
		start, stop := b.StartSegment(), b.StopSegment()
		no := start.No
		if b.WALIncluded {
			no = stop.No + 1
		}
		for ; ; no++ {
			s, ok := m[no]
			if !ok {
				break
			}
			w.Last = Segment{TLI: b.Timeline, No: no}.Name(b.SegSize)
			if s.mod.After(w.To) {
				w.To = s.mod
			}
		}
		w.Missing = Segment{TLI: b.Timeline, No: no}.Name(b.SegSize)
		w.Usable = no > stop.No
		if w.Last == "" && w.Usable {
			w.Last = stop.Name(b.SegSize)
		}
		w.Gap = maxNo[b.Timeline] > no
		if !w.Usable {
			w.To = time.Time{}
		} else if w.To.Before(w.From) {
			w.To = w.From
		}
		out = append(out, w)
	}
	return out
}

// Target is where a restore stops: a time, or the end of the archive.
type Target struct {
	Latest bool
	Time   time.Time
}

func (t Target) String() string {
	if t.Latest {
		return "latest"
	}
	return t.Time.UTC().Format(time.RFC3339)
}

// ParseTarget reads "latest" or a time: RFC 3339, or "YYYY-MM-DD HH:MM[:SS]"
// in loc.
func ParseTarget(s string, loc *time.Location) (Target, error) {
	if s == "latest" {
		return Target{Latest: true}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return Target{Time: t}, nil
		}
	}
	return Target{}, hint.New(fmt.Sprintf("invalid restore target %q", s),
		`give "latest", or a time such as 2026-11-22T14:05:00Z or "2026-11-22 14:05" (local time)`)
}

// Choose picks the base backup to restore for target: the newest usable
// one that ends before the target time (for latest: the newest usable
// one) and whose window reaches it. A time outside every window is an
// error that says what the restorable window is.
func Choose(ws []Window, t Target) (*Window, error) {
	usable := make([]Window, 0, len(ws))
	for _, w := range ws {
		if w.Usable {
			usable = append(usable, w)
		}
	}
	if len(usable) == 0 {
		if len(ws) == 0 {
			return nil, hint.Wrap(errNoBackup, "take one with: tend db backup")
		}
		return nil, hint.New("no base backup is restorable: each lacks WAL up to its end ("+ws[len(ws)-1].Missing+" is missing for the newest)",
			"check archiving with tend db status, then take a new backup with tend db backup")
	}
	sort.SliceStable(usable, func(i, j int) bool { return usable[i].From.Before(usable[j].From) })
	if t.Latest {
		w := usable[len(usable)-1]
		return &w, nil
	}
	earliest, latest := usable[0].From, usable[0].To
	for _, w := range usable {
		if w.To.After(latest) {
			latest = w.To
		}
	}
	for i := len(usable) - 1; i >= 0; i-- {
		w := usable[i]
		if !w.From.After(t.Time) && !w.To.Before(t.Time) {
			return &w, nil
		}
	}
	window := fmt.Sprintf("%s to %s", earliest.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339))
	switch {
	case t.Time.Before(earliest):
		return nil, hint.New(fmt.Sprintf("%s is before the oldest restorable time: the restorable window is %s", t, window),
			"pick a time inside the window; older states are gone (see the retention in the spec)")
	case t.Time.After(latest):
		return nil, hint.New(fmt.Sprintf("%s is after the latest restorable time: the restorable window is %s", t, window),
			`use "latest", or check archiving with tend db status`)
	}
	return nil, hint.New(fmt.Sprintf("%s falls in a hole of the archive (missing WAL): the restorable window is %s with holes", t, window),
		"run tend db check to see which segments are missing")
}

// Window span of the archive as a whole.
func Span(ws []Window) (from, to time.Time, ok bool) {
	for _, w := range ws {
		if !w.Usable {
			continue
		}
		if !ok || w.From.Before(from) {
			from = w.From
		}
		if !ok || w.To.After(to) {
			to = w.To
		}
		ok = true
	}
	return
}

// Load reads the backups, the WAL listing and the windows.
func (a *Archive) Load(ctx context.Context) ([]Window, []Incomplete, []WALObject, error) {
	backups, inc, err := a.Backups(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	wal, err := a.WAL(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return Windows(backups, wal), inc, wal, nil
}
