package snapshot

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/store"
)

// mark is a prune's list of garbage: blobs no snapshot referenced and packs
// no index listed, when it ran. A later prune deletes what is still
// garbage once DeleteAfter has passed; creates do not reuse marked blobs.
type mark struct {
	key         string
	Time        time.Time
	DeleteAfter time.Time
	Blobs       []ID
	Packs       []ID
}

const markMagic = "TNDMRK01"

// createMargin is how long before a mark's DeleteAfter a create must have
// finished when it reuses a blob the mark lists (clock skew allowance).
const createMargin = time.Minute

func encodeMark(m *mark) []byte {
	var b []byte
	b = putU64(b, uint64(m.Time.UnixNano()))
	b = putU64(b, uint64(m.DeleteAfter.UnixNano()))
	b = putU32(b, uint32(len(m.Blobs)))
	for _, id := range m.Blobs {
		b = append(b, id[:]...)
	}
	b = putU32(b, uint32(len(m.Packs)))
	for _, id := range m.Packs {
		b = append(b, id[:]...)
	}
	return b
}

func decodeMark(b []byte) (*mark, error) {
	r := &reader{b: b}
	m := &mark{Time: time.Unix(0, int64(r.u64())), DeleteAfter: time.Unix(0, int64(r.u64()))}
	n := r.u32()
	if uint64(n)*32 > uint64(len(r.b)) {
		return nil, errShort
	}
	for i := uint32(0); i < n; i++ {
		m.Blobs = append(m.Blobs, r.id())
	}
	n = r.u32()
	if uint64(n)*32 > uint64(len(r.b)) {
		return nil, errShort
	}
	for i := uint32(0); i < n; i++ {
		m.Packs = append(m.Packs, r.id())
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errors.New("malformed mark")
	}
	return m, nil
}

func (r *Repo) loadMarks(ctx context.Context) ([]*mark, error) {
	var keys []string
	if err := r.st.List(ctx, prefixMarks, func(i store.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		return nil, fmt.Errorf("list marks: %w", err)
	}
	var out []*mark
	for _, k := range keys {
		data, err := r.readAll(ctx, k, 1<<30)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read mark: %w", err)
		}
		body, err := openMeta(&r.k.meta, markMagic, data)
		if err != nil {
			return nil, fmt.Errorf("mark %s: %w", k, err)
		}
		plain, err := zdec.DecodeAll(body, nil)
		if err != nil {
			return nil, fmt.Errorf("mark %s: %w", k, err)
		}
		m, err := decodeMark(plain)
		if err != nil {
			return nil, fmt.Errorf("mark %s: %w", k, err)
		}
		m.key = k
		out = append(out, m)
	}
	return out, nil
}

func (r *Repo) writeMark(ctx context.Context, m *mark) error {
	data := sealMeta(&r.k.meta, markMagic, zenc.EncodeAll(encodeMark(m), nil))
	id := ID(sha256.Sum256(data))
	m.key = prefixMarks + id.String()
	return r.putNew(ctx, m.key, data)
}

func markedBlobs(ms []*mark) map[ID]struct{} {
	s := map[ID]struct{}{}
	for _, m := range ms {
		for _, id := range m.Blobs {
			s[id] = struct{}{}
		}
	}
	return s
}

// checkNewMarks refuses to write a snapshot that reuses blobs a prune
// marked after this create began, once that mark may be acted on: the
// snapshot would reference data a prune may already be deleting.
func (r *Repo) checkNewMarks(ctx context.Context, before []*mark, root *wnode, start time.Time) error {
	now, err := r.loadMarks(ctx)
	if err != nil {
		return err
	}
	old := map[string]bool{}
	for _, m := range before {
		old[m.key] = true
	}
	var late []*mark
	for _, m := range now {
		if !old[m.key] && time.Now().After(m.DeleteAfter.Add(-createMargin)) {
			late = append(late, m)
		}
	}
	if len(late) == 0 {
		return nil
	}
	bad := markedBlobs(late)
	var hit bool
	var visit func(n *wnode)
	visit = func(n *wnode) {
		for _, id := range n.Content {
			if _, ok := bad[id]; ok {
				hit = true
			}
		}
		if n.Subtree != nil {
			if _, ok := bad[*n.Subtree]; ok {
				hit = true
			}
		}
		for _, c := range n.children {
			visit(c)
		}
	}
	visit(root)
	if hit {
		return hint.Wrap(errors.New("create: a prune that ran meanwhile may delete data this snapshot reuses; the snapshot was not written"),
			"run create again: it will store that data anew")
	}
	return nil
}

// PruneOptions tunes Prune.
type PruneOptions struct {
	DryRun bool
	// MinAge is how long garbage stays marked before it is deleted; it
	// must exceed the clock skew between hosts (default 1 hour).
	MinAge time.Duration
	// LeaseTTL defaults to LeaseTTL.
	LeaseTTL time.Duration
	// testHook is run between steps.
	testHook func(step string)
	// leaseNow is the lease's clock (a test hook; nil is time.Now).
	leaseNow func() time.Time
}

// PruneResult says what a prune did (or would do).
type PruneResult struct {
	MarkedBlobs, MarkedPacks    int   // newly marked garbage
	DeletedBlobs                int   // garbage blobs removed
	DeletedPacks, RepackedPacks int   // packs removed entirely / rewritten
	OrphanPacks                 int   // unindexed packs removed
	FreedBytes                  int64 // pack bytes deleted (before adding repacked ones)
	WrittenBytes                int64 // pack bytes written by repacking
	Pending                     int   // blobs marked earlier, not yet old enough
	// KeptByLock counts the objects the store's object lock refused to
	// delete (packs, index objects, marks), and the packs kept because
	// such an index object still lists them; a later prune deletes them.
	// They are not counted as deleted or freed above.
	KeptByLock int
	Lines      []string
}

// Prune deletes data no snapshot references, in two phases: a run marks
// garbage; a run after MinAge deletes what is still garbage, rewriting
// only packs that hold some. See docs/snapshot.md for why a concurrent
// create is safe, and objectlock.go for a store that refuses deletes.
func (r *Repo) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	if err := r.needWriteKey("prune"); err != nil {
		return nil, err
	}
	if err := r.needIdentity("prune"); err != nil {
		return nil, err
	}
	if opts.MinAge == 0 {
		opts.MinAge = time.Hour
	}
	if opts.MinAge < 0 {
		opts.MinAge = 0
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = LeaseTTL
	}
	hook := func(s string) {
		if opts.testHook != nil {
			opts.testHook(s)
		}
	}
	if !opts.DryRun {
		release, err := r.acquireLease(ctx, opts.LeaseTTL, opts.leaseNow)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	start := time.Now()
	res := &PruneResult{}
	say := func(f string, a ...any) { res.Lines = append(res.Lines, fmt.Sprintf(f, a...)) }

	marks, err := r.loadMarks(ctx)
	if err != nil {
		return nil, err
	}
	done, doneGone, err := r.doneMarks(ctx, marks)
	if err != nil {
		return nil, err
	}
	sns, bad, err := r.readSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	r.warnBad(bad)
	// A damaged object may be one of ours whose blobs are unknown: delete
	// and mark no blob while one is there (unindexed packs are still
	// handled: no snapshot decides those).
	keepBlobs := slices.ContainsFunc(bad, func(b *badObject) bool { return b.Damaged })
	if keepBlobs {
		say("deleting no blob data: a snapshot object is damaged and may use any of it (see 'tend snapshot check'; remove the object once it is understood)")
	}
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	packs := map[ID]int64{}
	err = r.st.List(ctx, prefixData, func(i store.Info) error {
		id, err := ParseID(i.Key[strings.LastIndexByte(i.Key, '/')+1:])
		if err != nil {
			return fmt.Errorf("unexpected object %s", i.Key)
		}
		packs[id] = i.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	// Copies of a blob that point at a missing pack while another copy
	// is stored are dropped: never repacked from, and gone from the
	// index this prune writes.
	x.settle(packs)
	used, err := r.usedBlobs(ctx, x, sns)
	if err != nil {
		return nil, err
	}
	isUsed := func(id ID) bool { _, ok := used[id]; return ok }

	// Phase two: what eligible marks listed and is still garbage. A mark
	// an earlier prune acted on but could not delete is not acted on
	// again (done); its deletion is tried again below.
	var eligible, pending, acted []*mark
	for _, m := range marks {
		switch {
		case done[m.key]:
			acted = append(acted, m)
		case !m.DeleteAfter.After(start):
			eligible = append(eligible, m)
		default:
			pending = append(pending, m)
		}
	}
	garbage := map[ID]struct{}{}
	for _, m := range eligible {
		for _, id := range m.Blobs {
			if !keepBlobs && !isUsed(id) && x.Has(id) {
				garbage[id] = struct{}{}
			}
		}
	}
	packPos := map[ID]uint32{}
	for i, p := range x.packs {
		packPos[p.id] = uint32(i)
	}
	var orphans []ID
	for _, m := range eligible {
		for _, id := range m.Packs {
			if _, ok := packPos[id]; ok {
				continue
			}
			if _, ok := packs[id]; ok {
				orphans = append(orphans, id)
			}
		}
	}
	// Every copy of every blob, once per pack: two index objects list one
	// pack after a killed prune, or while the object lock keeps an old
	// index object.
	all := append(slices.Clone(x.entries), x.dups...)
	slices.SortFunc(all, func(a, b entry) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.pack, b.pack)
	})
	all = slices.CompactFunc(all, func(a, b entry) bool { return a.id == b.id && a.pack == b.pack })
	// Packs holding garbage: delete when nothing live remains, else rewrite.
	byPack := map[uint32][]entry{}
	touched := map[uint32]bool{}
	for _, e := range all {
		byPack[e.pack] = append(byPack[e.pack], e)
		if _, g := garbage[e.id]; g {
			touched[e.pack] = true
		}
	}
	// A live blob in touched packs is copied out once, and not at all when
	// an untouched pack that is there holds it too.
	var live []entry
	copied := map[uint32]int{}
	staysElsewhere := func(e entry) bool {
		_, there := packs[x.packs[e.pack].id]
		return !touched[e.pack] && there
	}
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].id == all[i].id {
			j++
		}
		copies := all[i:j]
		i = j
		if _, g := garbage[copies[0].id]; g || slices.ContainsFunc(copies, staysElsewhere) {
			continue
		}
		live = append(live, copies[0])
		copied[copies[0].pack]++
	}
	touchedList := slices.Sorted(maps.Keys(touched))
	for _, p := range touchedList {
		n, g := len(byPack[p]), 0
		for _, e := range byPack[p] {
			if _, ok := garbage[e.id]; ok {
				g++
			}
		}
		res.FreedBytes += int64(x.packs[p].size)
		switch {
		case copied[p] > 0:
			res.RepackedPacks++
			say("rewrite pack %s (%d of %d blobs unreferenced)", x.packs[p].id.Short(), g, n)
		case g == n:
			res.DeletedPacks++
			say("delete pack %s (all %d blobs unreferenced)", x.packs[p].id.Short(), n)
		default:
			res.DeletedPacks++
			say("delete pack %s (%d of %d blobs unreferenced, the others stored in other packs too)", x.packs[p].id.Short(), g, n)
		}
	}
	res.DeletedBlobs = len(garbage)
	for _, id := range orphans {
		res.OrphanPacks++
		res.FreedBytes += packs[id]
		say("delete unindexed pack %s", id.Short())
	}

	// Phase one: mark new garbage.
	already := markedBlobs(pending)
	nm := &mark{Time: start, DeleteAfter: start.Add(opts.MinAge)}
	for _, e := range x.entries {
		if keepBlobs || isUsed(e.id) {
			continue
		}
		if _, ok := garbage[e.id]; ok {
			continue
		}
		if _, ok := already[e.id]; ok {
			continue
		}
		nm.Blobs = append(nm.Blobs, e.id)
	}
	markedPack := map[ID]bool{}
	for _, m := range pending {
		for _, id := range m.Packs {
			markedPack[id] = true
		}
	}
	orphanSet := map[ID]bool{}
	for _, id := range orphans {
		orphanSet[id] = true
	}
	for id := range packs {
		if _, ok := packPos[id]; !ok && !orphanSet[id] && !markedPack[id] {
			nm.Packs = append(nm.Packs, id)
		}
	}
	slices.SortFunc(nm.Packs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	res.MarkedBlobs, res.MarkedPacks = len(nm.Blobs), len(nm.Packs)
	for _, m := range pending {
		res.Pending += len(m.Blobs)
	}
	if len(nm.Blobs)+len(nm.Packs) > 0 {
		say("mark %d unreferenced blobs and %d unindexed packs, to delete after %s", len(nm.Blobs), len(nm.Packs), nm.DeleteAfter.Format(time.RFC3339))
	}
	if opts.DryRun {
		return res, nil
	}

	// Act: rewrite, index, then delete (a kill at any point leaves a
	// repository that check accepts; leftovers are garbage for next time).
	kept := lockKept{}
	var newPacks []indexPack
	if len(live) > 0 {
		np, written, err := r.repack(ctx, x, live)
		if err != nil {
			return nil, err
		}
		newPacks, res.WrittenBytes = np, written
	}
	hook("repacked")
	// stillListed: packs that index objects the object lock kept list.
	var stillListed map[ID]bool
	if len(touched) > 0 || len(newPacks) > 0 || len(orphans) > 0 {
		var keep []indexPack
		for p, es := range byPack {
			if touched[p] {
				continue
			}
			keep = append(keep, indexPack{info: x.packs[p], blobs: es})
		}
		slices.SortFunc(keep, func(a, b indexPack) int { return bytes.Compare(a.info.id[:], b.info.id[:]) })
		keep = append(keep, newPacks...)
		if len(keep) > 0 {
			if _, err := r.writeIndex(ctx, keep); err != nil {
				return nil, err
			}
		}
		hook("indexed")
		var stay []ID
		for _, f := range x.files {
			deleted, err := kept.del(ctx, r.st, prefixIndex+f.String(), "index objects")
			if err != nil {
				return nil, fmt.Errorf("delete old index: %w", err)
			}
			if !deleted {
				stay = append(stay, f)
			}
		}
		if len(stay) > 0 {
			if stillListed, err = r.indexedPacks(ctx, stay); err != nil {
				return nil, err
			}
		}
	}
	if len(nm.Blobs)+len(nm.Packs) > 0 {
		if err := r.writeMark(ctx, nm); err != nil {
			return nil, fmt.Errorf("write mark: %w", err)
		}
	}
	for _, m := range eligible {
		deleted, err := kept.del(ctx, r.st, m.key, "marks")
		if err != nil {
			return nil, fmt.Errorf("delete mark: %w", err)
		}
		if !deleted {
			if err := r.writeMarkDone(ctx, m, start); err != nil {
				return nil, fmt.Errorf("record a mark as done: %w", err)
			}
		}
	}
	for _, m := range acted {
		deleted, err := kept.del(ctx, r.st, m.key, "marks")
		if err != nil {
			return nil, fmt.Errorf("delete mark: %w", err)
		}
		if deleted {
			doneGone = append(doneGone, prefixMarksDone+strings.TrimPrefix(m.key, prefixMarks))
		}
	}
	// A done record goes only after its mark: alone, the mark would be
	// acted on again.
	for _, k := range doneGone {
		if err := r.st.Delete(ctx, k); err != nil && !store.IsLocked(err) {
			r.logf("warning: deleting %s: %v", k, err)
		}
	}
	hook("deleting")
	for _, p := range touchedList {
		id := x.packs[p].id
		deleted := false
		if stillListed[id] {
			kept["packs"]++
		} else if deleted, err = kept.del(ctx, r.st, packKey(id), "packs"); err != nil {
			return nil, fmt.Errorf("delete pack: %w", err)
		}
		if !deleted {
			res.FreedBytes -= int64(x.packs[p].size)
			if copied[p] == 0 {
				res.DeletedPacks--
			}
		}
	}
	for _, id := range orphans {
		deleted, err := kept.del(ctx, r.st, packKey(id), "packs")
		if err != nil {
			return nil, fmt.Errorf("delete pack: %w", err)
		}
		if !deleted {
			res.FreedBytes -= packs[id]
			res.OrphanPacks--
		}
	}
	res.KeptByLock = kept.total()
	for _, l := range kept.lines("a later prune") {
		r.logf("%s", l)
	}
	return res, nil
}

// repack copies the live blobs into new packs.
func (r *Repo) repack(ctx context.Context, x *Index, live []entry) ([]indexPack, int64, error) {
	if err := r.needRecipients("prune"); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(live, func(a, b entry) int {
		if a.pack != b.pack {
			return int(a.pack) - int(b.pack)
		}
		return int(a.off) - int(b.off)
	})
	up := r.newUploader(ctx, 2)
	comp := newCompressor()
	pk, err := r.newPacker()
	if err != nil {
		return nil, 0, err
	}
	br := r.newBlobReader(x)
	var pay []byte
	for i := 0; i < len(live); {
		j := i
		for j < len(live) && live[j].pack == live[i].pack {
			j++
		}
		data, err := r.readAll(ctx, packKey(x.packs[live[i].pack].id), int64(x.packs[live[i].pack].size))
		if err != nil {
			return nil, 0, fmt.Errorf("prune: read pack: %w", err)
		}
		a, err := r.parsePackHeader(x.packs[live[i].pack], data)
		if err != nil {
			return nil, 0, fmt.Errorf("prune: %w", err)
		}
		for _, e := range live[i:j] {
			if int(e.off)+int(e.length) > len(data) {
				return nil, 0, fmt.Errorf("prune: pack %s is shorter than its index says", x.packs[e.pack].id.Short())
			}
			plain, err := r.openBlob(a, e, data[e.off:e.off+e.length], x.packs[e.pack].id)
			if err != nil {
				return nil, 0, fmt.Errorf("prune: %w", err)
			}
			pay = comp.payload(plain, pay)
			if !pk.fits(len(pay)) {
				up.upload(pk)
				if pk, err = r.newPacker(); err != nil {
					return nil, 0, err
				}
			}
			pk.add(e.id, e.typ, pay, len(plain))
		}
		i = j
	}
	_ = br
	up.upload(pk)
	if err := up.wait(); err != nil {
		return nil, 0, err
	}
	return up.take(), up.bytes, nil
}

// usedBlobs walks every snapshot's trees and returns the blobs they use.
func (r *Repo) usedBlobs(ctx context.Context, x *Index, sns []*Snapshot) (map[ID]struct{}, error) {
	used := map[ID]struct{}{}
	br := r.newBlobReader(x)
	for _, sn := range sns {
		err := r.walkTrees(ctx, br, sn.Tree, "/", used, func(string, *Node) error { return nil })
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", sn.ID.Short(), err)
		}
	}
	return used, nil
}

// walkTrees calls fn for every node below tree (path is tree's own path);
// trees already in seen are not descended into again (their blobs are
// already in seen). seen receives every tree and data blob visited.
func (r *Repo) walkTrees(ctx context.Context, br *blobReader, tree ID, path string, seen map[ID]struct{}, fn func(string, *Node) error) error {
	if seen != nil {
		if _, ok := seen[tree]; ok {
			return nil
		}
		seen[tree] = struct{}{}
	}
	t, err := r.loadTree(ctx, br, tree)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := strings.TrimSuffix(path, "/") + "/" + n.Name
		if err := fn(p, n); err != nil {
			return err
		}
		if seen != nil {
			for _, id := range n.Content {
				seen[id] = struct{}{}
			}
		}
		if n.Type == TypeDir && n.Subtree != nil {
			if err := r.walkTrees(ctx, br, *n.Subtree, p, seen, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Repo) loadTree(ctx context.Context, br *blobReader, id ID) (*Tree, error) {
	data, err := br.load(ctx, id)
	if err != nil {
		return nil, err
	}
	var t Tree
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return &t, nil
}
