package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"tend/internal/store"
)

// prefixDrill holds restore drill records: plain JSON, create-only.
const prefixDrill = "drills/"

// Drill is the record of one restore drill.
type Drill struct {
	Time     time.Time `json:"time"`
	Snapshot string    `json:"snapshot"`
	Host     string    `json:"host"` // the snapshot's host
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Files    uint64    `json:"files"`
	Bytes    uint64    `json:"bytes"`
	Duration string    `json:"duration"`
}

// Drill restores sn into a new directory under scratch, which Restore
// verifies blob by blob against the keyed IDs, then walks the copy and
// compares its regular files (count and bytes) with the snapshot's
// summary, removes the copy and records the result in the repository.
// The returned error is the drill's failure, or a failure to record it.
func (r *Repo) Drill(ctx context.Context, sn *Snapshot, scratch string) (*Drill, error) {
	start := time.Now()
	d := &Drill{Time: start.UTC(), Snapshot: sn.ID.String(), Host: sn.Host}
	err := func() error {
		dir, err := os.MkdirTemp(scratch, "tend-drill-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if _, err := r.Restore(ctx, sn, "/", dir, 0); err != nil {
			return err
		}
		err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				fi, err := e.Info()
				if err != nil {
					return err
				}
				d.Files++
				d.Bytes += uint64(fi.Size())
			}
			return nil
		})
		if err != nil {
			return err
		}
		if d.Files != sn.Summary.Files || d.Bytes != sn.Summary.Bytes {
			return fmt.Errorf("the restored copy has %d files (%d bytes), the snapshot recorded %d files (%d bytes)",
				d.Files, d.Bytes, sn.Summary.Files, sn.Summary.Bytes)
		}
		return nil
	}()
	d.Duration = time.Since(start).Round(time.Millisecond).String()
	d.OK = err == nil
	if err != nil {
		d.Error = err.Error()
	}
	data, jerr := json.MarshalIndent(d, "", "  ")
	if jerr != nil {
		return d, jerr
	}
	key := prefixDrill + d.Time.Format("20060102T150405.000000000Z") + ".json"
	if perr := r.st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true}); perr != nil && err == nil {
		err = fmt.Errorf("the drill passed but its result could not be recorded: %w", perr)
	}
	return d, err
}

// LastDrill returns the newest drill record, or nil when there is none.
func (r *Repo) LastDrill(ctx context.Context) (*Drill, error) {
	var last string
	if err := r.st.List(ctx, prefixDrill, func(i store.Info) error { last = i.Key; return nil }); err != nil {
		return nil, err
	}
	if last == "" {
		return nil, nil
	}
	rc, err := r.st.Get(ctx, last)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var d Drill
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&d); err != nil {
		// Not a drill record (garbage): list goes on without it.
		r.logf("warning: skipping %s: not a drill record: %v", last, err)
		return nil, nil
	}
	return &d, nil
}
