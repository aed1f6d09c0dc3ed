package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"tend/internal/hint"
	"tend/internal/store"
)

// The prune lease is a set of create-only objects, never replaced, so that
// it works on a store whose object lock forbids deleting or overwriting
// young objects: every write (take, renew, release) is a new object
//
//	locks/prune-<unix nanos, 20 digits>-<token>
//
// holding a lease record. A token's lease is active while none of its
// records says released and its latest expiry is in the future. Objects of
// inactive leases are deleted best-effort; where the lock refuses, they
// stay, ignored, until a later prune deletes them. The single object
// locks/prune of older versions is read like any record.
const prefixLease = keyLease + "-"

// lease is one lease record.
type lease struct {
	Owner    string    `json:"owner"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires"`
	Released bool      `json:"released,omitempty"`
}

// LeaseTTL is how long a prune lease lasts without renewal.
const LeaseTTL = 10 * time.Minute

// leaseWait bounds how long an acquire waits for a concurrent acquire it
// has priority over to step back (see acquireLease).
const leaseWait = 5 * time.Second

// holder is one token's lease as the records under locks/ show it.
type holder struct {
	Token    string
	Owner    string
	Expires  time.Time // the latest
	Released bool
	First    string   // the key of its first record: the order of priority
	Keys     []string // all its records
}

func (h *holder) active(now time.Time) bool { return !h.Released && now.Before(h.Expires) }

// readLeases reads every lease record, grouped by token, in order of
// priority (earliest first record first).
func (r *Repo) readLeases(ctx context.Context) ([]*holder, error) {
	var keys []string
	err := r.st.List(ctx, keyLease, func(i store.Info) error {
		if i.Key == keyLease || strings.HasPrefix(i.Key, prefixLease) {
			keys = append(keys, i.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune lease: list: %w", err)
	}
	recs := make([]*lease, len(keys))
	err = parallel(ctx, len(keys), 8, func(i int) error {
		data, err := r.readAll(ctx, keys[i], 1<<16)
		if store.IsNotFound(err) { // released and deleted meanwhile
			return nil
		}
		if err != nil {
			return fmt.Errorf("prune lease: %w", err)
		}
		var l lease
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("prune lease %s: %w", keys[i], err)
		}
		recs[i] = &l
		return nil
	})
	if err != nil {
		return nil, err
	}
	byToken := map[string]*holder{}
	var out []*holder
	for i, l := range recs { // keys are in increasing order
		if l == nil {
			continue
		}
		h := byToken[l.Token]
		if h == nil {
			h = &holder{Token: l.Token, Owner: l.Owner, First: keys[i]}
			byToken[l.Token] = h
			out = append(out, h)
		}
		h.Keys = append(h.Keys, keys[i])
		h.Released = h.Released || l.Released
		if l.Expires.After(h.Expires) {
			h.Expires = l.Expires
		}
	}
	slices.SortFunc(out, func(a, b *holder) int { return strings.Compare(a.First, b.First) })
	return out, nil
}

// acquireLease takes the prune lease and renews it until release is
// called; now is the lease's clock (time.Now but in tests).
//
// It writes its own record, then lists, and proceeds only if no other
// token holds an active lease. Two prunes never both proceed, given the
// store's strong consistency (a LIST shows every PUT that finished before
// the LIST began): each prune's PUT precedes its own LIST, so the LIST of
// the prune whose PUT finished second shows the other's record, active
// (the other has proceeded and not released), and that prune does not
// proceed. The order of priority only decides who waits, never who may
// proceed: when two acquires see each other, the one whose first record
// sorts later steps back at once (writing a release), and the other
// lists again for up to leaseWait until it sees that release, so that one
// of them wins instead of neither.
func (r *Repo) acquireLease(ctx context.Context, ttl time.Duration, now func() time.Time) (release func(), err error) {
	if now == nil {
		now = time.Now
	}
	host, _ := os.Hostname()
	var tok [16]byte
	rand.Read(tok[:])
	l := lease{Owner: fmt.Sprintf("%s pid %d", host, os.Getpid()), Token: hex.EncodeToString(tok[:])}
	var mu sync.Mutex // guards mine
	var mine []string
	write := func(ctx context.Context, released bool) error {
		rec := l
		rec.Released = released
		rec.Expires = now().Add(ttl).UTC()
		data, _ := json.Marshal(rec)
		for {
			key := fmt.Sprintf("%s%020d-%s", prefixLease, now().UnixNano(), l.Token)
			err := r.st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
			if store.IsExists(err) { // same nanosecond as our previous record
				continue
			}
			if err != nil {
				return fmt.Errorf("prune lease: %w", err)
			}
			mu.Lock()
			mine = append(mine, key)
			mu.Unlock()
			return nil
		}
	}
	// cleanup deletes this prune's records after its release record is
	// written: that one last, and only when every other one went, so that
	// no record of an unreleased lease is ever left alone.
	cleanup := func(ctx context.Context) {
		mu.Lock()
		keys := slices.Clone(mine)
		mu.Unlock()
		r.deleteLeaseRecords(ctx, keys)
	}
	giveUp := func(h *holder) error {
		if err := write(context.WithoutCancel(ctx), true); err == nil {
			cleanup(context.WithoutCancel(ctx))
		}
		return hint.Wrap(fmt.Errorf("prune: another prune holds the lease (%s, until %s)", h.Owner, h.Expires.Format(time.RFC3339)),
			"wait for it to finish; a killed prune's lease expires by itself")
	}
	if err := write(ctx, false); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(leaseWait)
	stale := map[string]bool{}
	for {
		hs, err := r.readLeases(ctx)
		if err != nil {
			giveUp(&holder{})
			return nil, err
		}
		var ahead, behind *holder // an active other lease before / after ours
		seenSelf := false
		for _, h := range hs {
			switch {
			case h.Token == l.Token:
				seenSelf = true
			case !h.active(now()):
				if !stale[h.Token] {
					stale[h.Token] = true
					if !h.Released {
						r.logf("taking over a stale prune lease held by %s (expired %s)", h.Owner, h.Expires.Format(time.RFC3339))
					}
					r.deleteLeaseRecords(ctx, h.Keys)
				}
			case !seenSelf:
				if ahead == nil {
					ahead = h
				}
			case behind == nil:
				behind = h
			}
		}
		if ahead != nil {
			return nil, giveUp(ahead)
		}
		if behind == nil {
			break
		}
		// behind began after us: if it saw us, it is stepping back; if it
		// did not (it listed before our record existed), it proceeded, and
		// we give up once the wait is over.
		if time.Now().After(deadline) {
			return nil, giveUp(behind)
		}
		select {
		case <-ctx.Done():
			giveUp(behind)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := write(ctx, false); err != nil {
					r.logf("warning: renewing the prune lease: %v", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
		ctx := context.WithoutCancel(ctx)
		if err := write(ctx, true); err != nil {
			r.logf("warning: releasing the prune lease: %v (it expires by itself)", err)
			return
		}
		cleanup(ctx)
	}, nil
}

// deleteLeaseRecords deletes the records of one lease (keys in increasing
// order), best-effort: the last one (the newest, the release where there
// is one) only once all the others are gone, so that the records of a
// released lease never look active. What the object lock keeps is left
// for a later prune.
func (r *Repo) deleteLeaseRecords(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := r.st.Delete(ctx, k); err != nil {
			if !store.IsLocked(err) {
				r.logf("warning: deleting the prune lease record %s: %v", k, err)
			}
			return
		}
	}
}
