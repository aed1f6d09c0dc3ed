package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"tend/internal/resource"
	"tend/internal/wire"
)

// Entry is one resource tend manages on the host, as the record keeps it:
// enough to remove it once it leaves the spec.
type Entry struct {
	ID         string            `json:"id"`
	Kind       string            `json:"kind"`
	Name       string            `json:"name"`
	Notify     []string          `json:"notify,omitempty"`
	DeleteData bool              `json:"delete_data,omitempty"`
	Spec       json.RawMessage   `json:"spec"`
	Created    bool              `json:"created,omitempty"` // tend created it
	Prior      map[string]string `json:"prior,omitempty"`   // what the host had before tend first changed it
}

// recordVersion is the version of the record's format.
const recordVersion = 1

// record is what tend manages on the host, kept in two files under the
// state directory: managed.json, rewritten atomically at the end of each
// apply, and managed.journal, one JSON line appended and synced before
// each change is made (an entry added before a resource is created,
// dropped after it was removed). Loading replays the journal over the
// file, so a run killed at any point leaves a record that still names
// everything tend may have made; a last line cut short by the kill is an
// operation that had not started and is ignored.
type record struct {
	dir     string
	order   []string // ids, in the order they were converged
	entries map[string]*Entry
	journal *os.File
	dirty   bool // changed in memory only, by adopt
}

type journalOp struct {
	Set    *Entry `json:"set,omitempty"`
	Delete string `json:"delete,omitempty"`
}

type recordFile struct {
	Version int      `json:"version"`
	Entries []*Entry `json:"entries"`
}

func (r *record) path() string        { return filepath.Join(r.dir, "managed.json") }
func (r *record) journalPath() string { return filepath.Join(r.dir, "managed.journal") }

// loadRecord reads the record of the host (empty when tend never applied
// there).
func loadRecord(dir string) (*record, error) {
	r := &record{dir: dir, entries: map[string]*Entry{}}
	b, err := os.ReadFile(r.path())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("record of managed resources: %w", err)
	default:
		var f recordFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("record of managed resources %s: %w (it is written by tend only: restore it from a backup of the host, or remove it to make tend forget what it manages)", r.path(), err)
		}
		if f.Version != recordVersion {
			return nil, fmt.Errorf("record of managed resources %s: version %d, this agent reads %d: run a newer tend", r.path(), f.Version, recordVersion)
		}
		for _, e := range f.Entries {
			r.set(e)
		}
	}
	j, err := os.ReadFile(r.journalPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("record journal: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(j))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var op journalOp
		if json.Unmarshal(sc.Bytes(), &op) != nil {
			continue // the line a kill cut short: its change was not started
		}
		r.apply(op)
	}
	return r, nil
}

func (r *record) apply(op journalOp) {
	if op.Set != nil {
		r.set(op.Set)
	}
	if op.Delete != "" {
		r.remove(op.Delete)
	}
}

func (r *record) set(e *Entry) {
	if _, ok := r.entries[e.ID]; !ok {
		r.order = append(r.order, e.ID)
	}
	r.entries[e.ID] = e
}

func (r *record) remove(id string) {
	if _, ok := r.entries[id]; !ok {
		return
	}
	delete(r.entries, id)
	r.order = slices.DeleteFunc(r.order, func(x string) bool { return x == id })
}

// log appends op to the journal and syncs it, then applies it in memory.
func (r *record) log(op journalOp) error {
	if r.journal == nil {
		if err := os.MkdirAll(r.dir, 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(r.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("record journal: %w", err)
		}
		r.journal = f
	}
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	// A newline first: a line a kill cut short ends here, and this one
	// stays whole.
	if _, err := r.journal.Write(append(append([]byte{'\n'}, b...), '\n')); err != nil {
		return fmt.Errorf("record journal: %w", err)
	}
	if err := r.journal.Sync(); err != nil {
		return fmt.Errorf("record journal: %w", err)
	}
	r.apply(op)
	return nil
}

// adopt records an entry that guards no change on the host (a resource
// found in sync): in memory only, written by compact. A kill before then
// loses nothing: the next run finds it in sync again.
func (r *record) adopt(e *Entry) {
	r.set(e)
	r.dirty = true
}

// compact writes the record whole, in the order given by ids first (the
// desired state's), then the journal is removed. It does nothing when no
// operation was journaled or adopted in this run, or left by an earlier one.
func (r *record) compact(ids []string) error {
	if r.journal == nil && !r.dirty {
		if _, err := os.Stat(r.journalPath()); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	rank := map[string]int{}
	for i, id := range ids {
		rank[id] = i
	}
	order := slices.Clone(r.order)
	slices.SortStableFunc(order, func(a, b string) int {
		ra, oka := rank[a]
		rb, okb := rank[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	f := recordFile{Version: recordVersion, Entries: []*Entry{}}
	for _, id := range order {
		f.Entries = append(f.Entries, r.entries[id])
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	if err := resource.WriteFile(r.path(), append(b, '\n'), resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}); err != nil {
		return fmt.Errorf("record of managed resources: %w", err)
	}
	if r.journal != nil {
		r.journal.Close()
		r.journal = nil
	}
	if err := os.Remove(r.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (r *record) close() {
	if r.journal != nil {
		r.journal.Close()
	}
}

// entryOf is the record's entry for item it, keeping what an earlier entry
// knew: whether tend created it, and what the host had before.
func entryOf(it wire.Item, old *Entry, c *resource.Change) *Entry {
	e := &Entry{ID: it.ID, Kind: it.Kind, Name: it.Name, Notify: it.Notify, DeleteData: it.DeleteData, Spec: it.Spec}
	if it.Sensitive {
		e.Spec = blankStrings(it.Spec)
	}
	switch {
	case old != nil:
		e.Created, e.Prior = old.Created, old.Prior
	case c != nil:
		e.Created = c.Action == resource.Create
		if !it.Sensitive && !e.Created {
			for _, f := range c.Fields {
				if e.Prior == nil {
					e.Prior = map[string]string{}
				}
				e.Prior[f.Name] = f.From
			}
		}
	}
	return e
}

// same reports whether two entries record the same thing.
func same(a, b *Entry) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// blankStrings returns spec with every string value emptied (map keys,
// numbers and booleans kept): the record of a resource holding a secret
// must not hold the secret, which lives only in the files that use it.
// Removal then works from the name and what is left.
func blankStrings(spec json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(spec, &v) != nil {
		return nil
	}
	var blank func(any) any
	blank = func(v any) any {
		switch x := v.(type) {
		case string:
			return ""
		case []any:
			for i := range x {
				x[i] = blank(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = blank(x[k])
			}
		}
		return v
	}
	b, _ := json.Marshal(blank(v))
	return b
}
