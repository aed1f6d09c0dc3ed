package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"tend/internal/hint"
	"tend/internal/snapkey"
	"tend/internal/store"
)

// Snapshot is one recorded state of a set of paths on a host. The object
// is JSON in clear (host, paths, tags and times are declared in the spec
// anyway), MAC'd with the MAC key of the host it names (see
// snapkey.HostMAC), and named by the SHA-256 of its bytes.
// The trees and file data it points to are sealed to the recipients.
type Snapshot struct {
	ID      ID        `json:"-"`
	Time    time.Time `json:"time"`
	Start   time.Time `json:"start"` // when create began
	Host    string    `json:"host"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags,omitempty"`
	Tree    ID        `json:"tree"`
	Parent  string    `json:"parent,omitempty"`
	Summary Summary   `json:"summary"`
	MAC     string    `json:"mac,omitempty"`
	// legacy: MAC'd with K(mac) itself, as before host keys (only a
	// holder of the write key can make or verify one).
	legacy bool
}

// Summary counts what a snapshot holds and what its create added.
type Summary struct {
	Files     uint64 `json:"files"`
	Dirs      uint64 `json:"dirs"`
	Bytes     uint64 `json:"bytes"`     // total size of regular files
	Read      uint64 `json:"read"`      // bytes read from files (not reused from the parent)
	NewBlobs  uint64 `json:"new_blobs"` // blobs added to the repository
	NewBytes  uint64 `json:"new_bytes"` // plaintext bytes of those blobs
	Uploaded  uint64 `json:"uploaded"`  // pack bytes uploaded
	Unchanged uint64 `json:"unchanged"` // files reused from the parent without reading
}

func (r *Repo) writeSnapshot(ctx context.Context, sn *Snapshot) error {
	key := r.k.macFor(sn.Host)
	if key == nil {
		return fmt.Errorf("write snapshot: the host key for %s cannot sign a snapshot of host %q", r.k.host, sn.Host)
	}
	sn.MAC = ""
	body, err := json.Marshal(sn)
	if err != nil {
		return err
	}
	sn.MAC = signWith(key, "snapshot", body)
	data, err := json.MarshalIndent(sn, "", "  ")
	if err != nil {
		return err
	}
	sn.ID = ID(sha256.Sum256(data))
	if err := r.putNew(ctx, prefixSnap+sn.ID.String(), data); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// badObject is an object under snapshots/ that is not a snapshot of this
// repository: list, restore, forget and prune skip it with a warning;
// check reports it.
type badObject struct {
	Key string
	Why string
	// Damaged: its name is a snapshot ID but its content does not match
	// it, so it may be one of ours, altered. Prune then deletes no blob
	// (it cannot know which ones the snapshot used). Otherwise the object
	// is foreign: a name no create writes, or content that is exactly
	// what was stored but not MAC'd with the write key.
	Damaged bool
}

func (b *badObject) Error() string { return b.Key + ": " + b.Why }

// otherHost is a snapshot of another host than a host key's: it cannot
// be verified with that key, and is none of its business.
type otherHost struct {
	id   ID
	host string
	mine string
}

func (o *otherHost) Error() string {
	return fmt.Sprintf("snapshot %s claims host %q; the host key for %s verifies only that host's snapshots", o.id.Short(), o.host, o.mine)
}

func (r *Repo) readSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	key := prefixSnap + id.String()
	data, err := r.readAll(ctx, key, 1<<20)
	if err != nil {
		return nil, err
	}
	if ID(sha256.Sum256(data)) != id {
		return nil, &badObject{Key: key, Why: fmt.Sprintf("snapshot %s: content does not match its name", id.Short()), Damaged: true}
	}
	var sn Snapshot
	if err := json.Unmarshal(data, &sn); err != nil {
		return nil, &badObject{Key: key, Why: fmt.Sprintf("snapshot %s: %v", id.Short(), err)}
	}
	if err := snapkey.CheckHostName(sn.Host); err != nil {
		return nil, &badObject{Key: key, Why: fmt.Sprintf("snapshot %s: host %q is not a host name", id.Short(), sn.Host)}
	}
	hk := r.k.macFor(sn.Host)
	if hk == nil {
		return nil, &otherHost{id: id, host: sn.Host, mine: r.k.host}
	}
	mac := sn.MAC
	sn.MAC = ""
	body, _ := json.Marshal(&sn)
	switch {
	case verifyWith(hk, "snapshot", body, mac):
	case r.k.mac != nil && r.k.verify("snapshot", body, mac):
		sn.legacy = true
	default:
		return nil, &badObject{Key: key, Why: fmt.Sprintf("snapshot %s: MAC does not verify for host %q (altered, written by another host in its name, or with another write key)", id.Short(), sn.Host)}
	}
	sn.MAC = mac
	sn.ID = id
	return &sn, nil
}

// snapshotIDs lists the snapshot objects' IDs; objects whose names are
// not IDs are returned as bad.
func (r *Repo) snapshotIDs(ctx context.Context) ([]ID, []*badObject, error) {
	var ids []ID
	var bad []*badObject
	err := r.st.List(ctx, prefixSnap, func(i store.Info) error {
		id, err := ParseID(strings.TrimPrefix(i.Key, prefixSnap))
		if err != nil {
			bad = append(bad, &badObject{Key: i.Key, Why: "not a snapshot (unexpected name)"})
			return nil
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	return ids, bad, nil
}

// readSnapshots reads every snapshot object, oldest first, and returns
// the ones that are not snapshots of this repository apart. A failure to
// list or read (the store unreachable) is an error, never a skip.
func (r *Repo) readSnapshots(ctx context.Context) ([]*Snapshot, []*badObject, error) {
	ids, bad, err := r.snapshotIDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*Snapshot, len(ids))
	var mu sync.Mutex
	err = parallel(ctx, len(ids), 8, func(i int) error {
		sn, err := r.readSnapshot(ctx, ids[i])
		var oh *otherHost
		if store.IsNotFound(err) || errors.As(err, &oh) { // forgotten meanwhile, or another host's
			return nil
		}
		var b *badObject
		if errors.As(err, &b) {
			mu.Lock()
			bad = append(bad, b)
			mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		mu.Lock()
		out[i] = sn
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	out = slices.DeleteFunc(out, func(s *Snapshot) bool { return s == nil })
	slices.SortStableFunc(out, func(a, b *Snapshot) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	slices.SortFunc(bad, func(a, b *badObject) int { return strings.Compare(a.Key, b.Key) })
	return out, bad, nil
}

func (r *Repo) warnBad(bad []*badObject) {
	for _, b := range bad {
		r.logf("warning: skipping %s (run 'tend snapshot check')", b)
	}
}

// Snapshots returns every snapshot, oldest first. It needs no identity,
// so a host can list. Opened with a host key, it returns only that host's
// snapshots (the others it cannot verify). Objects under snapshots/ that
// are not snapshots of this repository (garbage, a wrong key, a snapshot
// MAC'd by another host than the one it names) are skipped with a
// warning.
func (r *Repo) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	sns, bad, err := r.readSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	r.warnBad(bad)
	return sns, nil
}

// Find resolves "latest" or a unique hex prefix of a snapshot ID. A
// prefix is matched against the objects' names, and only the snapshot it
// names is read: other objects, even bad ones, do not stand in the way.
func (r *Repo) Find(ctx context.Context, ref string) (*Snapshot, error) {
	if ref == "latest" {
		all, err := r.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		return Select(all, ref)
	}
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	ids, _, err := r.snapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	var found []ID
	for _, id := range ids {
		if strings.HasPrefix(id.String(), strings.ToLower(ref)) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return nil, hint.Wrap(fmt.Errorf("snapshot %q: not found", ref), "run 'tend snapshot list' to see the IDs")
	case 1:
	default:
		return nil, fmt.Errorf("snapshot %q: ambiguous prefix (%d snapshots match); give more digits", ref, len(found))
	}
	sn, err := r.readSnapshot(ctx, found[0])
	if store.IsNotFound(err) {
		return nil, hint.Wrap(fmt.Errorf("snapshot %q: not found (forgotten meanwhile)", ref), "run 'tend snapshot list' to see the IDs")
	}
	var b *badObject
	if errors.As(err, &b) {
		return nil, hint.Wrap(fmt.Errorf("snapshot %q: %s", ref, b.Why), "run 'tend snapshot check'; this object is not a snapshot of this repository")
	}
	var oh *otherHost
	if errors.As(err, &oh) {
		return nil, hint.Wrap(oh, "read other hosts' snapshots where the write key is")
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	return sn, nil
}

func checkRef(ref string) error {
	if len(ref) < 4 {
		return hint.Wrap(fmt.Errorf("snapshot %q: give at least 4 hex digits", ref), "run 'tend snapshot list' to see the IDs")
	}
	if _, err := hex.DecodeString(ref + strings.Repeat("0", len(ref)%2)); err != nil {
		return fmt.Errorf("snapshot %q: not a hex ID prefix or \"latest\"", ref)
	}
	return nil
}

// Select resolves "latest" or a unique hex prefix of an ID among
// snapshots listed once (all, oldest first, as Snapshots returns them).
func Select(all []*Snapshot, ref string) (*Snapshot, error) {
	if ref == "latest" {
		if len(all) == 0 {
			return nil, errors.New("no snapshots")
		}
		return all[len(all)-1], nil
	}
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	var found []*Snapshot
	for _, s := range all {
		if strings.HasPrefix(s.ID.String(), strings.ToLower(ref)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, hint.Wrap(fmt.Errorf("snapshot %q: not found", ref), "run 'tend snapshot list' to see the IDs")
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("snapshot %q: ambiguous prefix (%d snapshots match); give more digits", ref, len(found))
}

// groupKey is how snapshots are grouped for parents and policies: the host
// and the sorted paths.
func groupKey(host string, paths []string) string {
	p := slices.Clone(paths)
	slices.Sort(p)
	return host + "\x00" + strings.Join(p, "\x00")
}

// Forget deletes the snapshot objects (their data stays until prune);
// those the store's object lock keeps are logged and left to a later
// forget (ForgetSnapshots returns them).
func (r *Repo) Forget(ctx context.Context, ids []ID) error {
	_, err := r.ForgetSnapshots(ctx, ids)
	return err
}
