package pitr

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"tend/internal/seal"
	"tend/internal/store"
)

// Backup describes one complete base backup: its manifest, stored as plain
// JSON at basebackups/ID/backup.json after every part is stored. A backup
// without a manifest is incomplete and never used.
type Backup struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Cluster   string    `json:"cluster"` // e.g. 15/main
	SystemID  string    `json:"system_identifier"`
	Timeline  uint32    `json:"timeline"`
	StartLSN  LSN       `json:"start_lsn"`
	StopLSN   LSN       `json:"stop_lsn"`
	StartTime time.Time `json:"start_time"`
	StopTime  time.Time `json:"stop_time"` // the earliest time it restores to
	SegSize   int64     `json:"wal_segment_size"`
	Size      int64     `json:"size"` // bytes of the tar stream
	// WALIncluded: the tar holds the WAL from start to stop, so the backup
	// is consistent without the archive.
	WALIncluded bool   `json:"wal_included"`
	Parts       []Part `json:"parts"`
}

// Part is one stored piece of a backup's tar stream.
type Part struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`   // plain bytes
	SHA256 string `json:"sha256"` // of the plain bytes
}

// StartSegment is the first WAL segment the backup needs.
func (b *Backup) StartSegment() Segment { return SegmentOf(b.Timeline, b.StartLSN, b.SegSize) }

// StopSegment is the segment holding the backup's end: replay must reach it
// for the copy to be consistent.
func (b *Backup) StopSegment() Segment { return SegmentOf(b.Timeline, b.StopLSN, b.SegSize) }

// NewBackupID returns a fresh backup ID: the time, then random digits so
// that two backups in one second never collide. Backups are ordered by
// their manifests' times, never by ID.
func NewBackupID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// DefaultPartSize is how many plain bytes go in one stored part. Each part
// is one create-only PUT, buffered in memory while it is sealed.
const DefaultPartSize = 64 << 20

// Upload stores the tar stream r as the parts of backup id, sealing each,
// with two uploads in flight. It returns the parts and the stream's size.
// Nothing is usable until Commit writes the manifest.
func (a *Archive) Upload(ctx context.Context, id string, r io.Reader, partSize int64) ([]Part, int64, error) {
	if partSize <= 0 {
		partSize = DefaultPartSize
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		parts []Part
		total int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	sem := make(chan struct{}, 2)
	for i := 0; ; i++ {
		buf := make([]byte, partSize)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			buf = buf[:n]
			sum := sha256.Sum256(buf)
			p := Part{Key: fmt.Sprintf("%s%s/part-%05d", backupPrefix, id, i), Size: int64(n), SHA256: hex.EncodeToString(sum[:])}
			parts = append(parts, p)
			total += int64(n)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := a.putSealed(ctx, p.Key, buf); err != nil {
					fail(err)
				}
			}()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			fail(fmt.Errorf("reading the backup stream: %w", err))
			break
		}
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
	}
	wg.Wait()
	if first != nil {
		return nil, 0, first
	}
	return parts, total, nil
}

func (a *Archive) putSealed(ctx context.Context, key string, data []byte) error {
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, a.Recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return a.Store.Put(ctx, key, &buf, int64(buf.Len()), store.PutOptions{CreateOnly: true})
}

// Commit writes the backup's manifest, making it usable.
func (a *Archive) Commit(ctx context.Context, b *Backup) error {
	if len(b.Parts) == 0 {
		return errors.New("refusing to commit a backup with no data")
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return a.Store.Put(ctx, backupPrefix+b.ID+"/backup.json", bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
}

// Incomplete is a backup whose manifest was never written (a backup that
// failed or was killed).
type Incomplete struct {
	ID      string
	Keys    []string
	ModTime time.Time // of its newest part
	Problem string    // why its manifest is unusable, when it has one
}

// Backups lists the complete backups, oldest first by stop time, and the
// incomplete ones.
func (a *Archive) Backups(ctx context.Context) ([]Backup, []Incomplete, error) {
	byID := map[string]*Incomplete{}
	var manifests []string
	err := a.Store.List(ctx, backupPrefix, func(i store.Info) error {
		id, rest, ok := strings.Cut(strings.TrimPrefix(i.Key, backupPrefix), "/")
		if !ok {
			return nil
		}
		inc := byID[id]
		if inc == nil {
			inc = &Incomplete{ID: id}
			byID[id] = inc
		}
		inc.Keys = append(inc.Keys, i.Key)
		if i.ModTime.After(inc.ModTime) {
			inc.ModTime = i.ModTime
		}
		if rest == "backup.json" {
			manifests = append(manifests, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var backups []Backup
	for _, id := range manifests {
		b, err := a.manifest(ctx, id)
		var bad *badManifest
		if errors.As(err, &bad) {
			// One damaged manifest must not hide the other backups: the
			// backup is unusable, listed as incomplete, reported by check.
			byID[id].Problem = err.Error()
			continue
		}
		if store.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, nil, err
		}
		backups = append(backups, *b)
		delete(byID, id)
	}
	sort.SliceStable(backups, func(i, j int) bool { return backups[i].StopTime.Before(backups[j].StopTime) })
	var inc []Incomplete
	for _, v := range byID {
		inc = append(inc, *v)
	}
	sort.Slice(inc, func(i, j int) bool { return inc[i].ModTime.Before(inc[j].ModTime) })
	return backups, inc, nil
}

func (a *Archive) manifest(ctx context.Context, id string) (*Backup, error) {
	key := backupPrefix + id + "/backup.json"
	rc, err := a.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b Backup
	dec := json.NewDecoder(io.LimitReader(rc, 16<<20))
	if err := dec.Decode(&b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(*json.SyntaxError)) || errors.As(err, new(*json.UnmarshalTypeError)) {
			return nil, &badManifest{fmt.Sprintf("%s in %s: invalid manifest: %v", key, a.Store, err)}
		}
		return nil, fmt.Errorf("%s in %s: %w", key, a.Store, err)
	}
	if b.ID != id || len(b.Parts) == 0 || b.StopTime.IsZero() {
		return nil, &badManifest{fmt.Sprintf("%s in %s: invalid manifest (wrong id, no parts or no stop time)", key, a.Store)}
	}
	if b.SegSize == 0 {
		b.SegSize = DefaultSegmentSize
	}
	return &b, nil
}

// Read writes the backup's tar stream to w, checking every part against
// its recorded hash. The next part is fetched while one is written.
func (a *Archive) Read(ctx context.Context, b *Backup, w io.Writer) error {
	type result struct {
		data []byte
		err  error
	}
	fetch := func(p Part) chan result {
		ch := make(chan result, 1)
		go func() {
			data, err := a.open(ctx, p.Key)
			if err == nil {
				sum := sha256.Sum256(data)
				if got := hex.EncodeToString(sum[:]); got != p.SHA256 || int64(len(data)) != p.Size {
					err = fmt.Errorf("%s in %s: content does not match the manifest (sha256 %s, expected %s)", p.Key, a.Store, short(got), short(p.SHA256))
				}
			}
			if store.IsNotFound(err) {
				err = fmt.Errorf("backup %s is damaged: part %s is missing: %w", b.ID, p.Key, err)
			}
			ch <- result{data, err}
		}()
		return ch
	}
	var next chan result
	for i, p := range b.Parts {
		cur := next
		if cur == nil {
			cur = fetch(p)
		}
		if i+1 < len(b.Parts) {
			next = fetch(b.Parts[i+1])
		} else {
			next = nil
		}
		r := <-cur
		if r.err != nil {
			if next != nil {
				<-next
			}
			return r.err
		}
		if _, err := w.Write(r.data); err != nil {
			if next != nil {
				<-next
			}
			return err
		}
	}
	return nil
}

// deleteBackup removes a backup: its manifest first, so that a
// half-deleted backup is incomplete, never a manifest pointing at missing
// parts. When the store's object lock retains the manifest, nothing else
// is deleted (the backup stays complete) and gone is false; parts the lock
// retains stay, counted in kept, for a later prune.
func (a *Archive) deleteBackup(ctx context.Context, id string, keys []string, kept *LockKept) (gone bool, err error) {
	man := backupPrefix + id + "/backup.json"
	if gone, err := a.del(ctx, man, &kept.Backups); !gone || err != nil {
		return false, err
	}
	for _, k := range keys {
		if k == man {
			continue
		}
		if _, err := a.del(ctx, k, &kept.Parts); err != nil {
			return true, err
		}
	}
	return true, nil
}

// del deletes key; a refusal by the store's object lock is counted in
// kept instead of failing, and gone is false.
func (a *Archive) del(ctx context.Context, key string, kept *int) (gone bool, err error) {
	err = a.Store.Delete(ctx, key)
	if store.IsLocked(err) {
		*kept++
		return false, nil
	}
	return err == nil, err
}

var errNoBackup = errors.New("no complete base backup in the archive")

// badManifest is a manifest that was read but is not valid.
type badManifest struct{ msg string }

func (e *badManifest) Error() string { return e.msg }
