package pitr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Keep is the retention of base backups: the Count newest, every backup
// that ended within Within, and the newest one older than that, so that
// every time in the last Within stays restorable.
type Keep struct {
	Count  int
	Within time.Duration
}

func (k Keep) String() string {
	return fmt.Sprintf("keep %d backups and every time within %s", k.Count, k.Within)
}

// PrunePlan is what retention would delete, and why each backup stays.
type PrunePlan struct {
	Keep       []Backup
	Reasons    map[string]string // backup ID -> why it is kept
	Delete     []Backup
	DeleteWAL  []WALObject
	Incomplete []Incomplete // failed backups older than a day
}

// PlanPrune decides what retention deletes. Backups are ordered by their
// stop times, never by name; the newest usable backup is always kept; WAL
// is deleted only before the start of the oldest kept backup, and timeline
// history files are never deleted.
func PlanPrune(ws []Window, wal []WALObject, inc []Incomplete, k Keep, now time.Time) (*PrunePlan, error) {
	if k.Count <= 0 && k.Within <= 0 {
		return nil, errors.New("the retention keeps nothing: set keep_count or keep_within")
	}
	sorted := append([]Window(nil), ws...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Backup.StopTime.After(sorted[j].Backup.StopTime) })
	p := &PrunePlan{Reasons: map[string]string{}}
	keep := map[string]string{}
	n := 0
	for _, w := range sorted {
		if n < k.Count {
			keep[w.Backup.ID] = fmt.Sprintf("one of the %d newest", k.Count)
			n++
		}
	}
	if k.Within > 0 {
		edge := now.Add(-k.Within)
		older := false
		for _, w := range sorted {
			switch {
			case !w.Backup.StopTime.Before(edge):
				if _, ok := keep[w.Backup.ID]; !ok {
					keep[w.Backup.ID] = "within " + k.Within.String()
				}
			case !older && w.Usable:
				older = true
				if _, ok := keep[w.Backup.ID]; !ok {
					keep[w.Backup.ID] = "the base of the oldest times within " + k.Within.String()
				}
			}
		}
	}
	for _, w := range sorted {
		if w.Usable {
			if _, ok := keep[w.Backup.ID]; !ok {
				keep[w.Backup.ID] = "the newest usable backup"
			}
			break
		}
	}
	var minNo uint64
	first := true
	for _, w := range sorted {
		if why, ok := keep[w.Backup.ID]; ok {
			p.Keep = append(p.Keep, w.Backup)
			p.Reasons[w.Backup.ID] = why
			if no := w.Backup.StartSegment().No; first || no < minNo {
				minNo, first = no, false
			}
		} else {
			p.Delete = append(p.Delete, w.Backup)
		}
	}
	segSize := int64(DefaultSegmentSize)
	if len(ws) > 0 {
		segSize = ws[0].Backup.SegSize
	}
	if !first {
		for _, o := range wal {
			if no, ok := walNo(o.Name, segSize); ok && no < minNo {
				p.DeleteWAL = append(p.DeleteWAL, o)
			}
		}
	}
	for _, i := range inc {
		if i.Problem == "" && now.Sub(i.ModTime) > 24*time.Hour { // a damaged backup is left for a person to look at
			p.Incomplete = append(p.Incomplete, i)
		}
	}
	return p, nil
}

// walNo is the segment number of a segment, partial segment or backup
// history file; history files have none.
func walNo(name string, segSize int64) (uint64, bool) {
	if len(name) < 24 {
		return 0, false
	}
	s, ok := ParseSegment(name[:24], segSize)
	return s.No, ok
}

// Prune carries out a plan: backups first (manifest before parts), then
// WAL, oldest first.
func (a *Archive) Prune(ctx context.Context, p *PrunePlan) error {
	for _, b := range p.Delete {
		if err := a.deleteBackup(ctx, b.ID, BackupKeys(b)); err != nil {
			return err
		}
	}
	for _, i := range p.Incomplete {
		if err := a.deleteBackup(ctx, i.ID, i.Keys); err != nil {
			return err
		}
	}
	for _, o := range p.DeleteWAL {
		if err := a.Store.Delete(ctx, walPrefix+o.Name+"/"+o.Hash); err != nil {
			return err
		}
	}
	return nil
}

// BackupKeys returns the keys of a backup: its parts and manifest.
func BackupKeys(b Backup) []string {
	keys := []string{backupPrefix + b.ID + "/backup.json"}
	for _, p := range b.Parts {
		keys = append(keys, p.Key)
	}
	return keys
}
