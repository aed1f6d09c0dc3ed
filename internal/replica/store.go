package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"tend/internal/hint"
	"tend/internal/store"
)

// StateKey is the replica's own state object in the destination store: when
// each object was first seen missing at the source. It lives with the data
// so that a replica moved or restored elsewhere keeps its deletion clocks.
// Keys under StatePrefix are never copied nor deleted as data, on either
// side (a replica of a replica skips the first one's state).
const (
	StatePrefix = ".tend-replica/"
	StateKey    = StatePrefix + "state.json"
	// ChangedPrefix holds old replica copies of objects that changed at the
	// source under the same key: ChangedPrefix + UTC time + "/" + key.
	ChangedPrefix = StatePrefix + "changed/"
)

// DefaultKeepDeleted is how long a replica keeps objects deleted at the source.
const DefaultKeepDeleted = 30 * 24 * time.Hour

// StoreOptions changes how PullStore works. The zero value is usable.
type StoreOptions struct {
	// Workers is the number of objects copied at once (default 4).
	Workers int
	// KeepDeleted is how long an object deleted at the source stays in the
	// replica, counted from the first pull that saw it missing (default
	// DefaultKeepDeleted; negative: never delete).
	KeepDeleted time.Duration
	// StatusFile, if not "", receives the Status after the pull.
	StatusFile string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type storeState struct {
	Version int `json:"version"`
	// Missing maps a key gone from the source to when it was first seen gone.
	Missing map[string]time.Time `json:"missing"`
}

// PullStore makes dst a replica of src: it copies every object of src that
// dst lacks or holds with another size, several at a time and streaming,
// so a second run copies only new objects. Objects gone from src stay in
// dst for KeepDeleted. An object whose size changed under the same key is
// copied again, its old replica copy kept under ChangedPrefix, and PullStore
// returns an error naming it: create-only data must never change.
//
// Any failure (listing, copying, writing the state or the status) gives a
// non-nil error; the Report says what was done all the same. A source that
// lists no object while the replica holds some is refused as a likely
// wrong URL or credentials, rather than starting deletion clocks.
func PullStore(ctx context.Context, src, dst store.Store, opts StoreOptions) (Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.KeepDeleted == 0 {
		opts.KeepDeleted = DefaultKeepDeleted
	}
	start := opts.Now()
	rep, err := pullStore(ctx, src, dst, opts, start)
	if err != nil {
		err = fmt.Errorf("pull %s to %s: %w", src, dst, err)
	}
	st := Status{Kind: "store", Source: src.String(), Target: dst.String()}
	if serr := record(opts.StatusFile, st, start, rep, err); serr != nil {
		return rep, errors.Join(err, serr)
	}
	return rep, err
}

func listAll(ctx context.Context, s store.Store) (map[string]store.Info, error) {
	m := map[string]store.Info{}
	err := s.List(ctx, "", func(i store.Info) error {
		if !strings.HasPrefix(i.Key, StatePrefix) {
			m[i.Key] = i
		}
		return nil
	})
	return m, err
}

func pullStore(ctx context.Context, src, dst store.Store, opts StoreOptions, now time.Time) (Report, error) {
	var rep Report
	srcObjs, err := listAll(ctx, src)
	if err != nil {
		return rep, fmt.Errorf("list source: %w", err)
	}
	dstObjs, err := listAll(ctx, dst)
	if err != nil {
		return rep, fmt.Errorf("list replica: %w", err)
	}
	if len(srcObjs) == 0 && len(dstObjs) > 0 {
		return rep, hint.Wrap(fmt.Errorf("the source lists no object but the replica holds %d: refusing to count them all as deleted", len(dstObjs)),
			"check the source URL and its credentials; if the source was really emptied, its objects stay in the replica until you delete them")
	}
	state, err := readState(ctx, dst)
	if err != nil {
		return rep, err
	}

	type job struct {
		info    store.Info
		changed bool
	}
	var jobs []job
	for _, key := range sortedKeys(srcObjs) {
		si := srcObjs[key]
		di, ok := dstObjs[key]
		switch {
		case !ok:
			jobs = append(jobs, job{info: si})
		case di.Size != si.Size:
			jobs = append(jobs, job{info: si, changed: true})
		default:
			rep.Skipped++
		}
	}

	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	stamp := now.UTC().Format("20060102T150405Z")
	ch := make(chan job)
	for range opts.Workers {
		wg.Go(func() {
			for j := range ch {
				var n int64
				var side string
				var err error
				if j.changed {
					side = ChangedPrefix + stamp + "/" + j.info.Key
					err = copyObject(ctx, dst, dst, j.info.Key, side, dstObjs[j.info.Key].Size, false)
					if err != nil {
						err = fmt.Errorf("keep the old copy of changed object %q: %w", j.info.Key, err)
					}
				}
				if err == nil {
					err = copyObject(ctx, src, dst, j.info.Key, j.info.Key, j.info.Size, !j.changed)
					n = j.info.Size
				}
				mu.Lock()
				switch {
				case err == nil:
					rep.Copied++
					rep.CopiedBytes += n
					if j.changed {
						rep.Changed = append(rep.Changed, fmt.Sprintf("%s (size %d, was %d; old copy kept as %s)",
							j.info.Key, j.info.Size, dstObjs[j.info.Key].Size, side))
					}
				case store.IsNotFound(err):
					rep.Skipped++ // deleted at the source while we ran
				case store.IsExists(err):
					rep.Skipped++ // another pull put it first
				default:
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err.Error())
	}
	sort.Strings(errs)
	sort.Strings(rep.Changed)

	// Deletion clocks. Only a complete, error-free listing of the source
	// gets here, so "missing" means deleted at the source.
	dirty := false
	for key := range state.Missing {
		if _, back := srcObjs[key]; back {
			delete(state.Missing, key)
			dirty = true
		} else if _, still := dstObjs[key]; !still {
			delete(state.Missing, key)
			dirty = true
		}
	}
	for _, key := range sortedKeys(dstObjs) {
		if _, ok := srcObjs[key]; ok {
			continue
		}
		first, seen := state.Missing[key]
		if !seen {
			state.Missing[key] = now
			dirty = true
			first = now
		}
		if opts.KeepDeleted > 0 && now.Sub(first) >= opts.KeepDeleted {
			if err := dst.Delete(ctx, key); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			delete(state.Missing, key)
			dirty = true
			rep.Deleted = append(rep.Deleted, key)
			continue
		}
		rep.Missing++
	}
	if dirty {
		if err := writeState(ctx, dst, state); err != nil {
			errs = append(errs, err.Error())
		}
	}
	rep.Errors = errs
	err = summarize("copy", errs)
	if len(rep.Changed) > 0 {
		cerr := hint.Wrap(fmt.Errorf("%d objects changed at the source under the same key: %s",
			len(rep.Changed), strings.Join(rep.Changed, "; ")),
			"create-only data must never change: find out what rewrote them at the source; the replica kept the old bytes")
		err = errors.Join(cerr, err)
	}
	return rep, err
}

// copyObject streams src's key into dst's key; size is the expected size.
func copyObject(ctx context.Context, src, dst store.Store, key, dstKey string, size int64, createOnly bool) error {
	r, err := src.Get(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	return dst.Put(ctx, dstKey, r, size, store.PutOptions{CreateOnly: createOnly})
}

func readState(ctx context.Context, dst store.Store) (*storeState, error) {
	st := &storeState{Version: 1, Missing: map[string]time.Time{}}
	r, err := dst.Get(ctx, StateKey)
	if store.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replica state: %w", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read replica state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, hint.Wrap(fmt.Errorf("replica state %s in %s: %w", StateKey, dst, err),
			"the file is damaged; deleting it restarts the deletion clocks (nothing is deleted early)")
	}
	if st.Missing == nil {
		st.Missing = map[string]time.Time{}
	}
	return st, nil
}

func writeState(ctx context.Context, dst store.Store, st *storeState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := dst.Put(ctx, StateKey, bytes.NewReader(b), int64(len(b)), store.PutOptions{}); err != nil {
		return fmt.Errorf("write replica state: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
