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

// LockKept counts what the store's object lock (S3 Object Lock) refused
// to delete during a prune, and what stays because of it; a later prune
// deletes it once the lock's retention has passed.
type LockKept struct {
	// Backups whose manifest is retained: nothing else of theirs is
	// deleted, so each stays complete and restorable.
	Backups int `json:"backups"`
	// Parts of deleted (or incomplete) backups.
	Parts int `json:"parts"`
	// WAL files: refused, or needed by a backup the lock kept.
	WAL int `json:"wal"`
}

// Total is the number of objects kept.
func (k LockKept) Total() int { return k.Backups + k.Parts + k.WAL }

// Lines says what was kept, one line per kind.
func (k LockKept) Lines() []string {
	var out []string
	for _, c := range []struct {
		n    int
		what string
	}{{k.Backups, "backups"}, {k.Parts, "backup parts"}, {k.WAL, "WAL files"}} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d %s kept by the store's object lock; a later prune deletes them", c.n, c.what))
		}
	}
	return out
}

// Prune carries out a plan: backups first (manifest before parts), then
// WAL, oldest first. Deletes refused by the store's object lock are not
// failures: they are counted, and a backup whose manifest stays keeps its
// parts and the WAL it needs, so that it stays restorable and check stays
// clean; a later prune deletes it.
func (a *Archive) Prune(ctx context.Context, p *PrunePlan) (LockKept, error) {
	var kept LockKept
	var stay []Backup
	for _, b := range p.Delete {
		gone, err := a.deleteBackup(ctx, b.ID, BackupKeys(b), &kept)
		if err != nil {
			return kept, err
		}
		if !gone {
			stay = append(stay, b)
		}
	}
	for _, i := range p.Incomplete {
		if _, err := a.deleteBackup(ctx, i.ID, i.Keys, &kept); err != nil {
			return kept, err
		}
	}
	// The plan deletes WAL before the oldest backup it keeps; a backup the
	// lock kept needs the WAL from its own start.
	var keepFrom uint64
	for i, b := range stay {
		if no := b.StartSegment().No; i == 0 || no < keepFrom {
			keepFrom = no
		}
	}
	for _, o := range p.DeleteWAL {
		if len(stay) > 0 {
			if no, ok := walNo(o.Name, stay[0].SegSize); ok && no >= keepFrom {
				kept.WAL++
				continue
			}
		}
		if _, err := a.del(ctx, walPrefix+o.Name+"/"+o.Hash, &kept.WAL); err != nil {
			return kept, err
		}
	}
	return kept, nil
}

// BackupKeys returns the keys of a backup: its parts and manifest.
func BackupKeys(b Backup) []string {
	keys := []string{backupPrefix + b.ID + "/backup.json"}
	for _, p := range b.Parts {
		keys = append(keys, p.Key)
	}
	return keys
}
