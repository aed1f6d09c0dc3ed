package authkeys

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tend/internal/resource"
	"tend/internal/resource/account"
)

// Removal removes an authorized_keys resource: the keys tend added to the
// user's file go, every other line stays (keys that were there before tend,
// comments...), and the file itself goes when tend created it and nothing
// but blank lines is left. tend knows the keys it added from its record
// (DefaultStateDir); without one (keys added by a tend older than the
// record), the listed keys go from a file tend created, and a file that
// existed before is left alone. state: absent removes the listed keys
// too, whoever added them (every key of the file when it lists none), and
// never deletes a file tend did not create.
type Removal struct {
	User     string
	Keys     []string // the listed key lines
	StateDir string   // default DefaultStateDir
}

// NewRemoval makes the removal of user's keys; keys are the listed ones.
// Lines that are not keys are ignored: a spec that says state: absent may
// list none.
func NewRemoval(user string, keys []string) *Removal {
	return &Removal{User: user, Keys: keys, StateDir: DefaultStateDir}
}

// Unmerge returns content without the lines holding one of keys (known by
// type and data, whatever their options and comment), and the
// fingerprints of the keys it removed.
func Unmerge(old string, keys []string) (content string, removed []string) {
	drop := map[string]bool{}
	for _, line := range keys {
		if k, ok := Parse(line); ok {
			drop[k.ID()] = true
		}
	}
	var out []string
	for _, line := range lines(old) {
		if k, ok := Parse(line); ok && drop[k.ID()] {
			removed = append(removed, k.Fingerprint())
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return "", removed
	}
	return strings.Join(out, "\n") + "\n", removed
}

// removal is what a removal does to the file.
type removal struct {
	path, old, content string
	removed            []string // fingerprints
	deleteFile         bool
	kept               string // why the file is left alone
}

// plan returns what the removal does, nil when there is nothing to do.
func (r *Removal) plan(how resource.Removal) (*removal, error) {
	db, err := account.Load()
	if err != nil {
		return nil, err
	}
	u := db.User(r.User)
	if u == nil {
		return nil, nil // no user, no keys
	}
	m := &removal{path: paths(u).file}
	fi, err := os.Lstat(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: remove it by hand", m.path)
	}
	b, err := os.ReadFile(m.path)
	if err != nil {
		return nil, err
	}
	m.old = string(b)
	added, recorded, err := readAdded(r.StateDir, r.User)
	if err != nil {
		return nil, err
	}
	var drop []string
	switch {
	case how.Explicit && len(r.Keys) == 0: // the user has no authorized keys
		for _, line := range lines(m.old) {
			if _, ok := Parse(line); ok {
				drop = append(drop, line)
			}
		}
	case how.Explicit:
		drop = append(slices.Clone(r.Keys), added...)
	case recorded:
		drop = added
	case how.Created:
		drop = r.Keys
	default:
		m.kept = fmt.Sprintf("%s existed before tend managed it, and tend has no record of the keys it added there: every key stays; declare the resource with state: absent to remove the keys it lists", m.path)
		if _, removed := Unmerge(m.old, r.Keys); len(removed) == 0 {
			return nil, nil
		}
		return m, nil
	}
	m.content, m.removed = Unmerge(m.old, drop)
	m.deleteFile = how.Created && strings.TrimSpace(m.content) == ""
	if len(m.removed) == 0 && !m.deleteFile {
		return nil, nil
	}
	return m, nil
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	m, err := r.plan(how)
	if err != nil || m == nil {
		return nil, err
	}
	if m.kept != "" {
		return resource.Kept(m.kept), nil
	}
	c := &resource.Change{Action: resource.Update, Diff: resource.Diff(m.path, m.old, m.content)}
	if m.deleteFile {
		c.Action = resource.Delete
		c.Add("file", m.path, "")
	}
	c.Add("keys removed", strings.Join(m.removed, ", "), "")
	return c, nil
}

// Remove implements resource.Remover: the file is rewritten atomically,
// with its owner and mode, or removed; then the record goes.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	m, err := r.plan(how)
	if err != nil {
		return err
	}
	if m != nil && m.kept == "" {
		if m.deleteFile {
			if err := os.Remove(m.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := resource.SyncDir(filepath.Dir(m.path)); err != nil {
				return err
			}
		} else {
			_, meta, err := resource.Stat(m.path)
			if err != nil {
				return err
			}
			if err := resource.WriteFile(m.path, []byte(m.content), meta); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(statePath(r.StateDir, r.User)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("record of the keys tend added: %w", err)
	}
	return nil
}

// DefaultStateDir is where the keys tend added to each user's file are
// recorded, one file per user holding one key (type and data) per line.
const DefaultStateDir = "/var/lib/tend/authorized_keys"

func statePath(dir, user string) string { return filepath.Join(dir, user) }

// ids returns the keys (type and data) of the key lines of content.
func ids(content string) map[string]bool {
	out := map[string]bool{}
	for _, line := range lines(content) {
		if k, ok := Parse(line); ok {
			out[k.ID()] = true
		}
	}
	return out
}

// readAdded returns the keys recorded as added by tend to user's file;
// ok is false when there is no record (tend never added a key, or did
// before it kept this record).
func readAdded(dir, user string) (keys []string, ok bool, err error) {
	b, err := os.ReadFile(statePath(dir, user))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("record of the keys tend added: %w", err)
	}
	for _, l := range lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			keys = append(keys, l)
		}
	}
	return keys, true, nil
}

// recordAdded records the keys the file gains from old to content, with
// those recorded before that it still holds (a key someone removed by
// hand is forgotten). Nothing is written when the record would not change.
func recordAdded(dir, user, old, content string) error {
	before, after := ids(old), ids(content)
	prev, _, err := readAdded(dir, user)
	if err != nil {
		return err
	}
	var keep []string
	for _, id := range prev {
		if after[id] && !slices.Contains(keep, id) {
			keep = append(keep, id)
		}
	}
	added := false
	for _, line := range lines(content) {
		if k, ok := Parse(line); ok && !before[k.ID()] && !slices.Contains(keep, k.ID()) {
			keep = append(keep, k.ID())
			added = true
		}
	}
	if !added && len(keep) == len(prev) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("record the keys tend added: %w", err)
	}
	data := strings.Join(keep, "\n")
	if data != "" {
		data += "\n"
	}
	if err := resource.WriteFile(statePath(dir, user), []byte(data), resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}); err != nil {
		return fmt.Errorf("record the keys tend added: %w", err)
	}
	return nil
}
