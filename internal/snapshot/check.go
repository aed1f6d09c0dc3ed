package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"tend/internal/store"
)

// CheckOptions tunes Check.
type CheckOptions struct {
	// ReadData is the fraction of packs (0..1) whose every blob is read,
	// decrypted and verified; 0 checks structure only.
	ReadData float64
}

// CheckResult lists the problems found; none means the repository is sound.
type CheckResult struct {
	Snapshots, Packs, Blobs, PacksRead int
	Problems                           []string
	// Notes are findings that lose nothing: index entries whose pack is
	// missing while the blobs they list are stored in other packs (a
	// host may write such entries), and snapshots MAC'd the way they were
	// before host keys.
	Notes []string
	// NoIdentity: trees were not walked (the keys have no identity).
	NoIdentity bool
}

// Check verifies the repository: snapshots' MACs, index objects, that
// every indexed pack exists with its size, and (with an identity) that
// every blob each snapshot needs is indexed. ReadData reads packs too.
// Problems name the affected snapshots and files.
func (r *Repo) Check(ctx context.Context, opts CheckOptions) (*CheckResult, error) {
	if err := r.needWriteKey("check"); err != nil {
		return nil, err
	}
	res := &CheckResult{}
	problem := func(f string, a ...any) { res.Problems = append(res.Problems, fmt.Sprintf(f, a...)) }
	note := func(f string, a ...any) { res.Notes = append(res.Notes, fmt.Sprintf(f, a...)) }
	sns, bad, err := r.readSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		problem("%s", b)
	}
	for _, sn := range sns {
		if sn.legacy {
			note("snapshot %s: MAC'd with the write key itself, as before host keys (only a holder of the write key can have written it)", sn.ID.Short())
		}
	}
	x, badIdx, err := r.loadIndex(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range badIdx {
		problem("%s", b)
	}
	res.Snapshots, res.Packs, res.Blobs = len(sns), len(x.packs), len(x.entries)
	sizes := map[ID]int64{}
	err = r.st.List(ctx, prefixData, func(i store.Info) error {
		id, err := ParseID(i.Key[strings.LastIndexByte(i.Key, '/')+1:])
		if err != nil {
			problem("unexpected object %s", i.Key)
			return nil
		}
		sizes[id] = i.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	// An entry whose pack is missing does not shadow a stored copy (see
	// settle); a pack left with no entry lost nothing.
	x.settle(sizes)
	listed := map[uint32]bool{}
	for _, e := range append(slices.Clone(x.entries), x.dups...) {
		listed[e.pack] = true
	}
	badPack := map[uint32]string{} // pack position -> what is wrong
	unlisted := map[uint32]bool{}  // packs that lost nothing: not read
	for i, p := range x.packs {
		size, ok := sizes[p.id]
		why := ""
		switch {
		case !ok:
			why = "missing"
		case uint64(size) != p.size:
			why = fmt.Sprintf("size %d, index says %d", size, p.size)
		}
		switch {
		case why == "":
		case !listed[uint32(i)]:
			unlisted[uint32(i)] = true
			note("pack %s: %s, but every blob the index lists in it is stored in another pack (a prune that rewrites the index drops the entries)", p.id.Short(), why)
		default:
			badPack[uint32(i)] = why
		}
	}
	if len(r.ids) == 0 {
		res.NoIdentity = true
		for p, why := range badPack {
			problem("pack %s: %s", x.packs[p].id.Short(), why)
		}
		return res, nil
	}
	br := r.newBlobReader(x)
	badBlob := map[ID]string{}
	if opts.ReadData > 0 {
		order := make([]uint32, 0, len(x.packs))
		for i := range x.packs {
			if _, bad := badPack[uint32(i)]; !bad && !unlisted[uint32(i)] {
				order = append(order, uint32(i))
			}
		}
		if opts.ReadData < 1 {
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			n := int(float64(len(x.packs))*opts.ReadData + 0.999999)
			order = order[:min(n, len(order))]
		}
		byPack := map[uint32][]entry{}
		for _, e := range append(slices.Clone(x.entries), x.dups...) {
			byPack[e.pack] = append(byPack[e.pack], e)
		}
		for _, p := range order {
			res.PacksRead++
			info := x.packs[p]
			data, err := r.readAll(ctx, packKey(info.id), int64(info.size))
			if err != nil {
				badPack[p] = err.Error()
				continue
			}
			a, err := r.parsePackHeader(info, data)
			if err != nil {
				badPack[p] = err.Error()
				continue
			}
			for _, e := range byPack[p] {
				if int(e.off)+int(e.length) > len(data) {
					badBlob[e.id] = "beyond the end of its pack"
					continue
				}
				if _, err := r.openBlob(a, e, data[e.off:e.off+e.length], info.id); err != nil {
					badBlob[e.id] = err.Error()
				}
			}
		}
	}
	for p, why := range badPack {
		problem("pack %s: %s", x.packs[p].id.Short(), why)
	}
	for id, why := range badBlob {
		problem("blob %s: %s", id.Short(), why)
	}
	// Walk every snapshot: report files whose blobs are missing or bad.
	unusable := func(id ID) string {
		if why, ok := badBlob[id]; ok {
			return why
		}
		e, ok := x.find(id)
		if !ok {
			return "not in the index"
		}
		if why, ok := badPack[e.pack]; ok {
			return "in pack " + x.packs[e.pack].id.Short() + ": " + why
		}
		return ""
	}
	for _, sn := range sns {
		if why := unusable(sn.Tree); why != "" {
			problem("snapshot %s: root tree %s", sn.ID.Short(), why)
			continue
		}
		err := r.walkTrees(ctx, br, sn.Tree, "/", nil, func(p string, n *Node) error {
			if n.Subtree != nil {
				if why := unusable(*n.Subtree); why != "" {
					problem("snapshot %s: directory %s: tree %s", sn.ID.Short(), p, why)
					n.Subtree = nil
				}
			}
			for _, id := range n.Content {
				if why := unusable(id); why != "" {
					problem("snapshot %s: file %s: data %s", sn.ID.Short(), p, why)
					break
				}
			}
			return nil
		})
		if err != nil {
			problem("snapshot %s: %v", sn.ID.Short(), err)
		}
	}
	slices.Sort(res.Problems)
	res.Problems = slices.Compact(res.Problems)
	slices.Sort(res.Notes)
	return res, nil
}
