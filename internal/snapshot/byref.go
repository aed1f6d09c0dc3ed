package snapshot

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"filippo.io/age"

	"tend/internal/hint"
	"tend/internal/store"
)

// The functions of this file take what a user types (a snapshot ID, a
// unique prefix of one, or "latest") and do one whole operation, so that a
// command resolves nothing itself.

// InitKeyFile generates a new write key, writes it to keyFile (created,
// never overwritten, mode 0600, the key in hex on one line) and creates the
// repository for it. When creating the repository fails, the key file is
// removed again, so a key never exists without its repository.
func InitKeyFile(ctx context.Context, st store.Store, keyFile string, now time.Time) (Config, error) {
	k, err := GenerateKey()
	if err != nil {
		return Config{}, err
	}
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Config{}, hint.Wrap(fmt.Errorf("write key file: %w", err), "choose a new file; an existing key file is never overwritten")
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(k)); err != nil {
		f.Close()
		os.Remove(keyFile)
		return Config{}, fmt.Errorf("write key file %s: %w", keyFile, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(keyFile)
		return Config{}, fmt.Errorf("write key file %s: %w", keyFile, err)
	}
	cfg, err := Init(ctx, st, k, now)
	if err != nil {
		os.Remove(keyFile)
		return Config{}, err
	}
	return cfg, nil
}

// IdentityRecipients returns the recipients of the X25519 identities among
// ids: whoever holds the identity may also write packs it can read.
func IdentityRecipients(ids []age.Identity) []age.Recipient {
	var rs []age.Recipient
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			rs = append(rs, x.Recipient())
		}
	}
	return rs
}

// Listing is every snapshot, oldest first, and the last restore drill
// (nil if none was recorded).
type Listing struct {
	Snapshots []*Snapshot
	LastDrill *Drill
}

// List returns the snapshots and the last restore drill.
func (r *Repo) List(ctx context.Context) (*Listing, error) {
	sns, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	d, err := r.LastDrill(ctx)
	if err != nil {
		return nil, err
	}
	return &Listing{Snapshots: sns, LastDrill: d}, nil
}

// LsRef lists the entries at and below path in the snapshot ref names.
func (r *Repo) LsRef(ctx context.Context, ref, path string) (*Snapshot, []LsEntry, error) {
	sn, err := r.Find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	entries, err := r.Ls(ctx, sn, path)
	return sn, entries, err
}

// DiffRefs lists the paths added, removed or modified from snapshot a to b.
func (r *Repo) DiffRefs(ctx context.Context, a, b string) ([]Change, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	sa, err := Select(all, a)
	if err != nil {
		return nil, err
	}
	sb, err := Select(all, b)
	if err != nil {
		return nil, err
	}
	return r.Diff(ctx, sa, sb)
}

// RestoreRef restores path of the snapshot ref names under dir.
func (r *Repo) RestoreRef(ctx context.Context, ref, path, dir string) (*Snapshot, *RestoreResult, error) {
	sn, err := r.Find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	res, err := r.Restore(ctx, sn, path, dir, 0)
	return sn, res, err
}

// DrillRef runs a restore drill (see Drill) of the snapshot ref names.
// When the drill fails, the error names the snapshot and says the failure
// was recorded.
func (r *Repo) DrillRef(ctx context.Context, ref, scratch string) (*Snapshot, *Drill, error) {
	sn, err := r.Find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	d, err := r.Drill(ctx, sn, scratch)
	if err != nil {
		return sn, d, fmt.Errorf("restore drill of snapshot %s FAILED (recorded): %w", sn.ID.Short(), err)
	}
	return sn, d, nil
}

// ForgetRefs forgets the snapshots refs name, or with dryRun only resolves
// them. It returns their IDs; nothing is forgotten unless every ref names a
// snapshot.
func (r *Repo) ForgetRefs(ctx context.Context, refs []string, dryRun bool) ([]ID, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var ids []ID
	for _, ref := range refs {
		sn, err := Select(all, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, sn.ID)
	}
	if dryRun {
		return ids, nil
	}
	return ids, r.Forget(ctx, ids)
}
