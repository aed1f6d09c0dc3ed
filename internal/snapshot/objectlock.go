package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tend/internal/store"
)

// A store with S3 Object Lock refuses to delete objects younger than its
// retention (store.ErrLocked). Prune and forget count such objects as
// kept and go on; what the lock keeps must never make a later prune delete
// data still needed, so three kinds need care:
//
//   - an old index object that stays still lists the packs this prune
//     removed from the index: those packs are not deleted while it stays
//     (an index must never list a missing pack: restores may read either
//     copy of a blob, and creates reuse what it lists). Their blobs are
//     then indexed twice, which the loader and prune take in their stride;
//   - a mark that stays was acted upon: a done record under marks-done/
//     says so, and later prunes do not act on it again (its blobs may by
//     then have been stored anew and be garbage again, and a fresh mark
//     must give them their full min-age);
//   - a pack that stays once no index lists it is an unindexed pack: the
//     next prune marks it again, and a later one deletes it.
const prefixMarksDone = "marks-done/"

// lockKept counts the objects the store's object lock kept, by kind
// ("packs", "index objects", ...).
type lockKept map[string]int

// del deletes key, counting a refusal by the object lock under kind
// instead of failing.
func (k lockKept) del(ctx context.Context, st store.Store, key, kind string) (deleted bool, err error) {
	err = st.Delete(ctx, key)
	if store.IsLocked(err) {
		k[kind]++
		return false, nil
	}
	return err == nil, err
}

func (k lockKept) total() int {
	n := 0
	for _, v := range k {
		n += v
	}
	return n
}

// lines says what was kept, one line per kind; later is who deletes it.
func (k lockKept) lines(later string) []string {
	kinds := make([]string, 0, len(k))
	for kind := range k {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	var out []string
	for _, kind := range kinds {
		out = append(out, fmt.Sprintf("%d %s kept by the store's object lock; %s deletes them", k[kind], kind, later))
	}
	return out
}

// doneMarks returns the keys of the marks a prune acted on but could not
// delete, and the done records of marks that are gone.
func (r *Repo) doneMarks(ctx context.Context, marks []*mark) (done map[string]bool, orphans []string, err error) {
	exists := map[string]bool{}
	for _, m := range marks {
		exists[m.key] = true
	}
	done = map[string]bool{}
	err = r.st.List(ctx, prefixMarksDone, func(i store.Info) error {
		k := prefixMarks + strings.TrimPrefix(i.Key, prefixMarksDone)
		if exists[k] {
			done[k] = true
		} else {
			orphans = append(orphans, i.Key)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list done marks: %w", err)
	}
	return done, orphans, nil
}

// writeMarkDone records that the mark was acted upon (its deletion was
// refused). A done record only ever makes a prune delete less.
func (r *Repo) writeMarkDone(ctx context.Context, m *mark, now time.Time) error {
	data, _ := json.Marshal(struct {
		Done time.Time `json:"done"`
	}{now.UTC()})
	key := prefixMarksDone + strings.TrimPrefix(m.key, prefixMarks)
	err := r.st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
	if store.IsExists(err) {
		return nil
	}
	return err
}

// indexedPacks returns the packs the index objects ids list.
func (r *Repo) indexedPacks(ctx context.Context, ids []ID) (map[ID]bool, error) {
	out := map[ID]bool{}
	for _, id := range ids {
		key := prefixIndex + id.String()
		rc, err := r.st.Get(ctx, key)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read index: %w", err)
		}
		sr, err := newOpenStream(&r.k.meta, indexMagic, rc)
		if err == nil {
			err = decodeIndex(sr, func(p packInfo, _ []entry) error { out[p.id] = true; return nil })
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", id.Short(), err)
		}
	}
	return out, nil
}
