package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"tend/internal/store"
)

// BlobType says what a blob holds.
type BlobType uint8

const (
	DataBlob BlobType = 1 // a chunk of file content
	TreeBlob BlobType = 2 // one directory's listing
)

// entry is one blob in the in-memory index: 52 bytes, kept in a slice
// sorted by ID (no per-blob pointers or map buckets), so a repository of
// N chunks costs about 52·N bytes of RAM.
type entry struct {
	id     ID
	pack   uint32 // position in Index.packs
	off    uint32 // offset of the sealed blob in the pack
	length uint32 // sealed length (nonce, ciphertext, tag)
	raw    uint32 // plaintext length
	typ    BlobType
}

// packInfo is one pack known to the index.
type packInfo struct {
	id     ID
	hdrLen uint32 // length of the wrapped pack key after the fixed header
	size   uint64
}

// Index maps blob IDs to where they are stored.
type Index struct {
	entries []entry
	packs   []packInfo
	files   []ID    // index objects it was read from
	dups    []entry // other copies of indexed blobs (after an interrupted prune)
}

// Len is the number of blobs indexed.
func (x *Index) Len() int { return len(x.entries) }

func (x *Index) find(id ID) (entry, bool) {
	i, ok := slices.BinarySearchFunc(x.entries, id, func(e entry, id ID) int { return bytes.Compare(e.id[:], id[:]) })
	if !ok {
		return entry{}, false
	}
	return x.entries[i], true
}

// Has reports whether the blob is indexed.
func (x *Index) Has(id ID) bool { _, ok := x.find(id); return ok }

// indexPack is the index record of one pack, as written in index objects.
type indexPack struct {
	info  packInfo
	blobs []entry // pack field unused
}

const indexMagic = "TNDIDX02"

// encodeIndex writes packs as an index object body (before sealing):
// u32 count, then per pack: id[32] u32 hdrLen u64 size u32 nblobs, then per
// blob: id[32] u8 type u32 off u32 len u32 raw. All little-endian.
func encodeIndex(packs []indexPack) []byte {
	var b []byte
	b = putU32(b, uint32(len(packs)))
	for _, p := range packs {
		b = append(b, p.info.id[:]...)
		b = putU32(b, p.info.hdrLen)
		b = putU64(b, p.info.size)
		b = putU32(b, uint32(len(p.blobs)))
		for _, e := range p.blobs {
			b = append(b, e.id[:]...)
			b = append(b, byte(e.typ))
			b = putU32(b, e.off)
			b = putU32(b, e.length)
			b = putU32(b, e.raw)
		}
	}
	return b
}

var errShort = errors.New("truncated")

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errShort
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) id() (id ID) { copy(id[:], r.take(32)); return }

// decodeIndex reads an index body from a stream, calling fn per pack with
// a batch of its blobs (a pack may come in several batches).
func decodeIndex(rd io.Reader, fn func(packInfo, []entry) error) error {
	br := bufio.NewReaderSize(rd, 64<<10)
	fixed := make([]byte, 48)
	if _, err := io.ReadFull(br, fixed[:4]); err != nil {
		return errShort
	}
	n := binary.LittleEndian.Uint32(fixed)
	const batch = 1024
	rec := make([]byte, 45*batch)
	blobs := make([]entry, 0, batch)
	for i := uint32(0); i < n; i++ {
		if _, err := io.ReadFull(br, fixed); err != nil {
			return errShort
		}
		r := &reader{b: fixed}
		p := packInfo{id: r.id(), hdrLen: r.u32(), size: r.u64()}
		m := int(r.u32())
		for m > 0 {
			k := min(m, batch)
			if _, err := io.ReadFull(br, rec[:45*k]); err != nil {
				return errShort
			}
			r := &reader{b: rec[:45*k]}
			blobs = blobs[:0]
			for range k {
				blobs = append(blobs, entry{id: r.id(), typ: BlobType(r.take(1)[0]), off: r.u32(), length: r.u32(), raw: r.u32()})
			}
			if err := fn(p, blobs); err != nil {
				return err
			}
			m -= k
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			return errors.New("trailing bytes")
		}
		return err
	}
	return nil
}

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
)

// writeIndex stores packs as a new index object and returns its ID.
func (r *Repo) writeIndex(ctx context.Context, packs []indexPack) (ID, error) {
	data := sealStream(&r.k.meta, indexMagic, encodeIndex(packs))
	id := ID(sha256.Sum256(data))
	if err := r.putNew(ctx, prefixIndex+id.String(), data); err != nil {
		return id, fmt.Errorf("write index: %w", err)
	}
	return id, nil
}

// LoadIndex reads every index object. Blobs indexed twice (after an
// interrupted prune) keep one location. An index object that is not one
// of this repository's (garbage, another key) is an error: prune and
// check must not take its packs for unindexed ones.
func (r *Repo) LoadIndex(ctx context.Context) (*Index, error) {
	x, bad, err := r.loadIndex(ctx)
	if err == nil && len(bad) > 0 {
		err = bad[0]
	}
	return x, err
}

// readIndex is LoadIndex for reading snapshot contents (restore, ls,
// diff): bad index objects are skipped with a warning, since every blob
// read is verified against its keyed ID anyway; a blob only they held is
// then reported missing. Of a blob's copies, one in a pack that is there
// is read (see settle).
func (r *Repo) readIndex(ctx context.Context) (*Index, error) {
	x, bad, err := r.loadIndex(ctx)
	if err != nil {
		return nil, err
	}
	r.warnBad(bad)
	sizes, err := r.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	x.settle(sizes)
	return x, nil
}

func (r *Repo) loadIndex(ctx context.Context) (*Index, []*badObject, error) {
	var keys []string
	var total int64
	err := r.st.List(ctx, prefixIndex, func(i store.Info) error {
		keys = append(keys, i.Key)
		total += i.Size
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list index: %w", err)
	}
	// Each blob takes 45 bytes in an index object: this capacity is an
	// upper bound, so the slice never grows (and untouched pages of an
	// over-estimate cost no RAM).
	x := &Index{entries: make([]entry, 0, total/45+1)}
	packPos := map[ID]uint32{}
	var mu sync.Mutex
	var bad []*badObject
	badIndex := func(key, why string) error {
		mu.Lock()
		bad = append(bad, &badObject{Key: key, Why: why})
		mu.Unlock()
		return nil
	}
	err = parallel(ctx, len(keys), 4, func(i int) error {
		key := keys[i]
		id, err := ParseID(strings.TrimPrefix(key, prefixIndex))
		if err != nil {
			return badIndex(key, "not an index object (unexpected name)")
		}
		rc, err := r.st.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read index: %w", err)
		}
		defer rc.Close()
		sr, err := newOpenStream(&r.k.meta, indexMagic, rc)
		if err != nil {
			return badIndex(key, fmt.Sprintf("index %s: %v", id.Short(), err))
		}
		var part []entry
		var parts []struct {
			p packInfo
			n int
		}
		err = decodeIndex(sr, func(p packInfo, blobs []entry) error {
			part = append(part, blobs...)
			parts = append(parts, struct {
				p packInfo
				n int
			}{p, len(blobs)})
			if len(part) >= 4096 {
				flush(&mu, x, packPos, &part, &parts)
			}
			return nil
		})
		if err != nil {
			// Segments before the damage were authenticated: what they
			// listed stays usable for reading.
			flush(&mu, x, packPos, &part, &parts)
			return badIndex(key, fmt.Sprintf("index %s: %v", id.Short(), err))
		}
		flush(&mu, x, packPos, &part, &parts)
		mu.Lock()
		x.files = append(x.files, id)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	x.sort()
	slices.SortFunc(bad, func(a, b *badObject) int { return strings.Compare(a.Key, b.Key) })
	return x, bad, nil
}

// flush moves decoded blobs into the index under mu.
func flush(mu *sync.Mutex, x *Index, packPos map[ID]uint32, part *[]entry, parts *[]struct {
	p packInfo
	n int
}) {
	mu.Lock()
	defer mu.Unlock()
	es := *part
	for _, pp := range *parts {
		pos, ok := packPos[pp.p.id]
		if !ok {
			pos = uint32(len(x.packs))
			packPos[pp.p.id] = pos
			x.packs = append(x.packs, pp.p)
		}
		for _, e := range es[:pp.n] {
			e.pack = pos
			x.entries = append(x.entries, e)
		}
		es = es[pp.n:]
	}
	*part = (*part)[:0]
	*parts = (*parts)[:0]
}

func (x *Index) sort() {
	slices.SortFunc(x.entries, func(a, b entry) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return int(a.pack) - int(b.pack)
	})
	x.dups = nil
	out := x.entries[:0]
	for i, e := range x.entries {
		if i > 0 && e.id == x.entries[i-1].id {
			x.dups = append(x.dups, e)
			continue
		}
		out = append(out, e)
	}
	x.entries = slices.Clip(out)
}

// parallel runs fn(0..n-1) on up to workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// listPacks lists data/: each pack's size by ID. Names that are not pack
// IDs are left out (check reports them).
func (r *Repo) listPacks(ctx context.Context) (map[ID]int64, error) {
	sizes := map[ID]int64{}
	err := r.st.List(ctx, prefixData, func(i store.Info) error {
		if id, err := ParseID(i.Key[strings.LastIndexByte(i.Key, '/')+1:]); err == nil {
			sizes[id] = i.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return sizes, nil
}

// stored reports whether e's pack is listed with room for e.
func (x *Index) stored(e entry, sizes map[ID]int64) bool {
	size, ok := sizes[x.packs[e.pack].id]
	return ok && uint64(size) >= uint64(e.off)+uint64(e.length)
}

// settle makes each blob's entry one whose pack is stored (sizes, from
// listPacks) when there is such a copy, and drops the other copies of
// that blob that point at missing or too short packs: index entries
// written by anyone holding the metadata key (every host) must not shadow
// the real copy. It returns how many entries it dropped. A blob with no
// stored copy keeps its entry, so that readers report the missing pack.
func (x *Index) settle(sizes map[ID]int64) int {
	all := append(slices.Clip(x.entries), x.dups...)
	slices.SortFunc(all, func(a, b entry) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		sa, sb := x.stored(a, sizes), x.stored(b, sizes)
		if sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return int(a.pack) - int(b.pack)
	})
	var entries, dups []entry
	dropped := 0
	for i, e := range all {
		if i == 0 || e.id != all[i-1].id {
			entries = append(entries, e)
			continue
		}
		if !x.stored(e, sizes) && x.stored(entries[len(entries)-1], sizes) {
			dropped++
			continue
		}
		dups = append(dups, e)
	}
	x.entries, x.dups = slices.Clip(entries), dups
	return dropped
}

// dropUnstored removes the blobs that have no stored copy (create then
// stores them anew rather than point a snapshot at nothing) and returns
// how many. Call it after settle.
func (x *Index) dropUnstored(sizes map[ID]int64) int {
	n := len(x.entries)
	x.entries = slices.DeleteFunc(x.entries, func(e entry) bool { return !x.stored(e, sizes) })
	x.dups = slices.DeleteFunc(x.dups, func(e entry) bool { return !x.stored(e, sizes) })
	return n - len(x.entries)
}
