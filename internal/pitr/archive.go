package pitr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"tend/internal/hint"
	"tend/internal/seal"
	"tend/internal/store"
)

// ErrAbsent means the archive has no file of that name: for PostgreSQL's
// restore_command, the normal end of the archive.
var ErrAbsent = errors.New("not in the archive")

// ErrGap means a segment is missing although later segments of its
// timeline are archived: the archive is incomplete, and recovery must stop
// rather than promote on partial history.
var ErrGap = errors.New("missing from the archive, but later segments are there: the archive has a gap")

// Archive is one cluster's backups in an object store: WAL files under
// wal/NAME/SHA256 and base backups under basebackups/ID/. See docs/pitr.md.
type Archive struct {
	Store      store.Store
	Recipients []age.Recipient // to write (hosts hold only these)
	Identities []age.Identity  // to read: restores, checks
	SegSize    int64           // wal_segment_size; 0 means 16 MiB
}

const (
	walPrefix    = "wal/"
	backupPrefix = "basebackups/"
	drillPrefix  = "drills/"
)

// fileRE matches the names PostgreSQL archives: segments, partial
// segments, backup history files and timeline history files.
var fileRE = regexp.MustCompile(`^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$`)

// ValidName checks a WAL file name given by PostgreSQL (%f), so that no
// other key can be written or read through archive_command.
func ValidName(name string) error {
	if !fileRE.MatchString(name) {
		return fmt.Errorf("%q is not the name of a WAL, history or backup history file", name)
	}
	return nil
}

func (a *Archive) segSize() int64 {
	if a.SegSize <= 0 {
		return DefaultSegmentSize
	}
	return a.SegSize
}

// WALObject is one archived WAL file.
type WALObject struct {
	Name    string
	Hash    string // SHA-256 of the plain content, hex
	Size    int64  // stored (sealed) size
	ModTime time.Time
}

func (a *Archive) versions(ctx context.Context, name string) ([]WALObject, error) {
	var out []WALObject
	err := a.Store.List(ctx, walPrefix+name+"/", func(i store.Info) error {
		out = append(out, WALObject{Name: name, Hash: strings.TrimPrefix(i.Key, walPrefix+name+"/"), Size: i.Size, ModTime: i.ModTime})
		return nil
	})
	return out, err
}

// Push archives one WAL file. Pushing the same bytes again succeeds without
// writing; different bytes under a name already archived are refused, so
// an archived segment is never replaced.
func (a *Archive) Push(ctx context.Context, name string, data []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	have, err := a.versions(ctx, name)
	if err != nil {
		return err
	}
	for _, v := range have {
		if v.Hash == hash {
			return nil
		}
	}
	if len(have) > 0 {
		return hint.New(fmt.Sprintf("%s is already archived in %s with different content (sha256 %s, this one %s): refusing to replace it",
			name, a.Store, short(have[0].Hash), short(hash)),
			"two clusters may be archiving to the same store: give each cluster its own store prefix; then remove the wrong object by hand")
	}
	var buf bytes.Buffer
	buf.Grow(len(data)/2 + 4096)
	w, err := seal.NewWriterLevel(&buf, zstd.SpeedFastest, a.Recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	err = a.Store.Put(ctx, walPrefix+name+"/"+hash, &buf, int64(buf.Len()), store.PutOptions{CreateOnly: true})
	if store.IsExists(err) {
		return nil // a concurrent push of the same bytes
	}
	return err
}

// Fetch returns the content of an archived WAL file, checked against the
// hash it was archived with. A file not archived is ErrAbsent; a segment
// missing while later ones of its timeline are archived is ErrGap.
func (a *Archive) Fetch(ctx context.Context, name string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	have, err := a.versions(ctx, name)
	if err != nil {
		return nil, err
	}
	switch {
	case len(have) > 1:
		return nil, fmt.Errorf("%s is archived %d times with different contents in %s: refusing to guess which is right", name, len(have), a.Store)
	case len(have) == 0:
		if seg, ok := ParseSegment(name, a.segSize()); ok {
			later, err := a.laterSegment(ctx, seg)
			if err != nil {
				return nil, err
			}
			if later != "" {
				return nil, fmt.Errorf("WAL segment %s: %w (%s is archived)", name, ErrGap, later)
			}
		}
		return nil, fmt.Errorf("%s: %w", name, ErrAbsent)
	}
	return a.read(ctx, have[0])
}

func (a *Archive) read(ctx context.Context, o WALObject) ([]byte, error) {
	key := walPrefix + o.Name + "/" + o.Hash
	data, err := a.open(ctx, key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != o.Hash {
		return nil, fmt.Errorf("%s in %s: content does not match its archived hash (sha256 %s, expected %s)", key, a.Store, short(got), short(o.Hash))
	}
	return data, nil
}

// open reads and unseals a whole object.
func (a *Archive) open(ctx context.Context, key string) ([]byte, error) {
	if len(a.Identities) == 0 {
		return nil, hint.New("reading backups needs the backup identity, which this machine does not have",
			"set TEND_AGE_KEY_FILE (or TEND_AGE_KEY) to the identity whose recipient the backups are sealed to")
	}
	rc, err := a.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := seal.NewReader(rc, a.Identities...)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", key, a.Store, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", key, a.Store, err)
	}
	return data, nil
}

// laterSegment names an archived segment of seg's timeline after seg, or "".
func (a *Archive) laterSegment(ctx context.Context, seg Segment) (string, error) {
	var found string
	errStop := errors.New("stop")
	prefix := walPrefix + fmt.Sprintf("%08X", seg.TLI)
	err := a.Store.List(ctx, prefix, func(i store.Info) error {
		name, _, _ := strings.Cut(strings.TrimPrefix(i.Key, walPrefix), "/")
		if s, ok := ParseSegment(name, a.segSize()); ok && s.TLI == seg.TLI && s.No > seg.No {
			found = name
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", err
	}
	return found, nil
}

// WAL lists every archived WAL file, in name order.
func (a *Archive) WAL(ctx context.Context) ([]WALObject, error) {
	var out []WALObject
	err := a.Store.List(ctx, walPrefix, func(i store.Info) error {
		name, hash, ok := strings.Cut(strings.TrimPrefix(i.Key, walPrefix), "/")
		if !ok || ValidName(name) != nil {
			return nil // not ours
		}
		out = append(out, WALObject{Name: name, Hash: hash, Size: i.Size, ModTime: i.ModTime})
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
