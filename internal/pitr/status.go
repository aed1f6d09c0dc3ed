package pitr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tend/internal/store"
	"tend/internal/wire"
)

// Status is the health of a cluster's backups, as `tend db status` shows
// it; a message of the wire.
type Status = wire.DBStatus

// DrillRecord is the result of one restore drill, stored as plain JSON
// under drills/ in the store so that status can show it from any host.
type DrillRecord = wire.DrillRecord

// RecordDrill stores a drill's result.
func (a *Archive) RecordDrill(ctx context.Context, d *DrillRecord) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	key := drillPrefix + d.Time.UTC().Format("20060102T150405.000000000Z") + ".json"
	return a.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
}

// LastDrill returns the newest drill record, or nil.
func (a *Archive) LastDrill(ctx context.Context) (*DrillRecord, error) {
	var last string
	if err := a.Store.List(ctx, drillPrefix, func(i store.Info) error { last = i.Key; return nil }); err != nil {
		return nil, err
	}
	if last == "" {
		return nil, nil
	}
	rc, err := a.Store.Get(ctx, last)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var d DrillRecord
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", last, err)
	}
	return &d, nil
}

// Status gathers the cluster's archiver statistics, its backlog, and the
// archive's backups, window and last drill; Problems lists what is wrong.
func (c *Config) Status(ctx context.Context, a *Archive) *Status {
	s := &Status{Cluster: c.Version + "/" + c.Cluster, Store: a.Store.String(), Now: time.Now().UTC()}
	var pg struct {
		Mode     string     `json:"mode"`
		Timeout  int        `json:"timeout"`
		Archived int64      `json:"archived"`
		LastWAL  string     `json:"last_wal"`
		LastTime *time.Time `json:"last_time"`
		Failed   int64      `json:"failed"`
		FailWAL  string     `json:"fail_wal"`
		FailTime *time.Time `json:"fail_time"`
	}
	err := c.queryJSON(ctx, `SELECT json_build_object('mode', current_setting('archive_mode'),
		'timeout', (SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout'),
		'archived', archived_count, 'last_wal', last_archived_wal, 'last_time', last_archived_time,
		'failed', failed_count, 'fail_wal', last_failed_wal, 'fail_time', last_failed_time) FROM pg_stat_archiver;`, &pg)
	if err != nil {
		s.Problems = append(s.Problems, "cannot query PostgreSQL: "+err.Error())
	} else {
		s.ArchiveMode, s.ArchiveTimeout = pg.Mode, pg.Timeout
		s.ArchivedCount, s.LastArchived, s.LastArchivedTime = pg.Archived, pg.LastWAL, pg.LastTime
		s.FailedCount, s.LastFailed, s.LastFailedTime = pg.Failed, pg.FailWAL, pg.FailTime
		if pg.Mode == "off" {
			s.Problems = append(s.Problems, "archive_mode is off: WAL is not archived")
		}
		if pg.FailTime != nil && (pg.LastTime == nil || pg.FailTime.After(*pg.LastTime)) {
			s.Problems = append(s.Problems, fmt.Sprintf("archiving is failing: %s could not be archived (last failure %s, %d failures in all); see the PostgreSQL log",
				pg.FailWAL, pg.FailTime.UTC().Format(time.RFC3339), pg.Failed))
		}
	}
	ents, _ := os.ReadDir(filepath.Join(c.DataDir(), "pg_wal", "archive_status"))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".ready") {
			continue
		}
		s.Ready++
		if fi, err := e.Info(); err == nil {
			t := fi.ModTime().UTC()
			if s.OldestReady == nil || t.Before(*s.OldestReady) {
				s.OldestReady = &t
			}
		}
	}
	lagLimit := 5 * time.Minute
	if d := 3 * time.Duration(s.ArchiveTimeout) * time.Second; d > lagLimit {
		lagLimit = d
	}
	if s.OldestReady != nil && s.Now.Sub(*s.OldestReady) > lagLimit {
		s.Problems = append(s.Problems, fmt.Sprintf("archiving is lagging: %d WAL files wait, the oldest since %s", s.Ready, s.OldestReady.Format(time.RFC3339)))
	}
	ws, _, _, err := a.Load(ctx)
	if err != nil {
		s.Problems = append(s.Problems, "cannot read the store: "+err.Error())
		return s
	}
	s.Backups = len(ws)
	if len(ws) == 0 {
		s.Problems = append(s.Problems, "no base backup in the store: take one with tend db backup")
	} else {
		last := ws[len(ws)-1].Backup
		s.LastBackup, s.LastBackupTime = last.ID, &last.StopTime
	}
	if from, to, ok := Span(ws); ok {
		s.From, s.To = &from, &to
	} else if len(ws) > 0 {
		s.Problems = append(s.Problems, "no backup is restorable: WAL is missing after each (run tend db check)")
	}
	for _, w := range ws {
		if w.Gap {
			s.Problems = append(s.Problems, fmt.Sprintf("the archive has a gap at %s (run tend db check)", w.Missing))
			break
		}
	}
	var problem string
	if s.Protection, problem = store.CheckProtection(ctx, a.Store); problem != "" {
		s.Problems = append(s.Problems, problem)
	}
	d, err := a.LastDrill(ctx)
	if err != nil {
		s.Problems = append(s.Problems, "cannot read the last drill: "+err.Error())
	}
	s.LastDrill = d
	if d != nil && !d.OK {
		s.Problems = append(s.Problems, fmt.Sprintf("the last restore drill (%s) failed: %s", d.Time.Format(time.RFC3339), d.Error))
	}
	return s
}
