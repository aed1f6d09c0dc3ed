package snapshot

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"

	"tend/internal/store"
)

const (
	packMagic  = "TNDPACK1"
	packHeader = len(packMagic) + 4 // magic, u32 length of the wrapped key
	blobNonce  = chacha20poly1305.NonceSizeX
	blobOver   = blobNonce + chacha20poly1305.Overhead
)

// Payload flags: the first plaintext byte of every sealed blob.
const (
	flagRaw  = 0
	flagZstd = 1
)

// compressor turns plaintext into a blob payload (flag byte, then zstd or
// the plaintext itself when zstd does not make it smaller). One per worker.
type compressor struct{ enc *zstd.Encoder }

func newCompressor() *compressor {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	return &compressor{enc: enc}
}

func (c *compressor) payload(plain []byte, dst []byte) []byte {
	dst = append(dst[:0], flagZstd)
	dst = c.enc.EncodeAll(plain, dst)
	if len(dst) >= len(plain)+1 {
		dst = append(dst[:0], flagRaw)
		dst = append(dst, plain...)
	}
	return dst
}

// packer fills one pack in memory.
type packer struct {
	key    []byte
	aead   cipher.AEAD
	buf    []byte
	hdrLen uint32
	blobs  []entry
}

func (r *Repo) newPacker() (*packer, error) {
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	wrapped, err := wrapKey(key, r.rcpt)
	if err != nil {
		return nil, fmt.Errorf("wrap pack key: %w", err)
	}
	aead, _ := chacha20poly1305.NewX(key)
	p := &packer{key: key, aead: aead, hdrLen: uint32(len(wrapped))}
	p.buf = getPackBuf()
	p.buf = append(p.buf, packMagic...)
	p.buf = putU32(p.buf, p.hdrLen)
	p.buf = append(p.buf, wrapped...)
	return p, nil
}

// add seals a blob payload into the pack.
func (p *packer) add(id ID, typ BlobType, payload []byte, raw int) {
	off := len(p.buf)
	var nonce [blobNonce]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic(err)
	}
	p.buf = append(p.buf, nonce[:]...)
	p.buf = p.aead.Seal(p.buf, nonce[:], payload, id[:])
	p.blobs = append(p.blobs, entry{id: id, typ: typ, off: uint32(off), length: uint32(len(p.buf) - off), raw: uint32(raw)})
}

func (p *packer) size() int { return len(p.buf) }

// fits reports whether a payload of n bytes fits without growing past
// packSize (an empty pack takes anything, e.g. a huge tree).
func (p *packer) fits(n int) bool { return len(p.blobs) == 0 || len(p.buf)+n+blobOver+16 <= packSize }

// packBufs recycles pack buffers: a create fills and uploads many packs,
// and fresh 24 MiB buffers cost page faults and garbage.
var packBufs = sync.Pool{New: func() any { b := make([]byte, 0, packSize+64<<10); return &b }}

func getPackBuf() []byte { return (*packBufs.Get().(*[]byte))[:0] }

func putPackBuf(b []byte) {
	if cap(b) >= packSize && cap(b) <= 2*packSize {
		b = b[:0]
		packBufs.Put(&b)
	}
}

// finish names the pack (random: the name need not depend on the content,
// which AEAD and keyed blob IDs already protect) and returns its record.
func (p *packer) finish() (indexPack, []byte) {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		panic(err)
	}
	return indexPack{info: packInfo{id: id, hdrLen: p.hdrLen, size: uint64(len(p.buf))}, blobs: p.blobs}, p.buf
}

// uploader stores finished packs in the background, a few at a time.
type uploader struct {
	r    *Repo
	ctx  context.Context
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	done []indexPack
	err  error
	// bytes counts what was uploaded.
	bytes int64
}

func (r *Repo) newUploader(ctx context.Context, parallel int) *uploader {
	return &uploader{r: r, ctx: ctx, sem: make(chan struct{}, parallel)}
}

func (u *uploader) upload(p *packer) {
	if len(p.blobs) == 0 {
		return
	}
	rec, data := p.finish()
	u.sem <- struct{}{}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { <-u.sem }()
		err := u.r.st.Put(u.ctx, packKey(rec.info.id), bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
		putPackBuf(data)
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = fmt.Errorf("upload pack: %w", err)
			}
			return
		}
		u.done = append(u.done, rec)
		u.bytes += int64(len(data))
	}()
}

// failed returns the first upload error so far.
func (u *uploader) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// take returns the packs uploaded since the last call.
func (u *uploader) take() []indexPack {
	u.mu.Lock()
	defer u.mu.Unlock()
	d := u.done
	u.done = nil
	return d
}

func (u *uploader) wait() error {
	u.wg.Wait()
	return u.failed()
}

// blobReader reads blobs from packs, caching unwrapped pack keys.
type blobReader struct {
	r    *Repo
	x    *Index
	mu   sync.Mutex
	keys map[uint32]cipher.AEAD
	dec  sync.Pool
}

func (r *Repo) newBlobReader(x *Index) *blobReader {
	return &blobReader{r: r, x: x, keys: map[uint32]cipher.AEAD{}}
}

// packAEAD returns the pack's key, reading its header once.
func (br *blobReader) packAEAD(ctx context.Context, pack uint32) (cipher.AEAD, error) {
	br.mu.Lock()
	a, ok := br.keys[pack]
	br.mu.Unlock()
	if ok {
		return a, nil
	}
	info := br.x.packs[pack]
	rc, err := br.r.st.GetRange(ctx, packKey(info.id), 0, int64(packHeader)+int64(info.hdrLen))
	if err != nil {
		return nil, err
	}
	hdr, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("pack %s: read header: %w", info.id.Short(), err)
	}
	a, err = br.r.parsePackHeader(info, hdr)
	if err != nil {
		return nil, err
	}
	br.mu.Lock()
	br.keys[pack] = a
	br.mu.Unlock()
	return a, nil
}

func (r *Repo) parsePackHeader(info packInfo, hdr []byte) (cipher.AEAD, error) {
	if len(hdr) < packHeader || string(hdr[:len(packMagic)]) != packMagic ||
		binary.LittleEndian.Uint32(hdr[len(packMagic):]) != info.hdrLen || len(hdr) < packHeader+int(info.hdrLen) {
		return nil, fmt.Errorf("pack %s: bad header", info.id.Short())
	}
	key, err := unwrapKey(hdr[packHeader:packHeader+int(info.hdrLen)], r.ids)
	if err != nil {
		return nil, fmt.Errorf("pack %s: unwrap pack key: %w", info.id.Short(), err)
	}
	return chacha20poly1305.NewX(key)
}

// load returns the plaintext of the blob, verified against its keyed ID.
// When the indexed copy does not verify, the index's other copies of the
// blob are tried: an entry anyone with the metadata key wrote (every
// host) may point at the wrong place of a real pack.
func (br *blobReader) load(ctx context.Context, id ID) ([]byte, error) {
	e, ok := br.x.find(id)
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the index", id.Short())
	}
	plain, err := br.loadAt(ctx, e)
	if err == nil || ctx.Err() != nil {
		return plain, err
	}
	for _, d := range br.x.dups {
		if d.id != id || d == e {
			continue
		}
		if p, derr := br.loadAt(ctx, d); derr == nil {
			br.r.logf("warning: blob %s: the indexed copy failed (%v); read another copy", id.Short(), err)
			return p, nil
		}
	}
	return nil, err
}

// loadAt reads and verifies the copy of a blob that entry e points at.
func (br *blobReader) loadAt(ctx context.Context, e entry) ([]byte, error) {
	id := e.id
	a, err := br.packAEAD(ctx, e.pack)
	if err != nil {
		return nil, err
	}
	info := br.x.packs[e.pack]
	rc, err := br.r.st.GetRange(ctx, packKey(info.id), int64(e.off), int64(e.length))
	if err != nil {
		return nil, err
	}
	sealed, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("pack %s: read blob %s: %w", info.id.Short(), id.Short(), err)
	}
	return br.r.openBlob(a, e, sealed, info.id)
}

// openBlob decrypts, decompresses and verifies one sealed blob.
func (r *Repo) openBlob(a cipher.AEAD, e entry, sealed []byte, pack ID) ([]byte, error) {
	if len(sealed) != int(e.length) || len(sealed) < blobOver+1 {
		return nil, fmt.Errorf("pack %s: blob %s: short read", pack.Short(), e.id.Short())
	}
	payload, err := a.Open(nil, sealed[:blobNonce], sealed[blobNonce:], e.id[:])
	if err != nil {
		return nil, fmt.Errorf("pack %s: blob %s: authentication failed (corrupted or altered)", pack.Short(), e.id.Short())
	}
	var plain []byte
	switch payload[0] {
	case flagRaw:
		plain = payload[1:]
	case flagZstd:
		if e.raw > maxBlob {
			return nil, fmt.Errorf("pack %s: blob %s: too large", pack.Short(), e.id.Short())
		}
		plain, err = zdec.DecodeAll(payload[1:], make([]byte, 0, e.raw))
		if err != nil {
			return nil, fmt.Errorf("pack %s: blob %s: decompress: %w", pack.Short(), e.id.Short(), err)
		}
	default:
		return nil, fmt.Errorf("pack %s: blob %s: unknown payload flag %d", pack.Short(), e.id.Short(), payload[0])
	}
	if len(plain) != int(e.raw) || r.k.blobID(plain) != e.id {
		return nil, fmt.Errorf("pack %s: blob %s: content does not match its ID", pack.Short(), e.id.Short())
	}
	return plain, nil
}

// maxBlob bounds a blob's plaintext (trees of huge directories included).
const maxBlob = 1 << 30

var errPackSize = errors.New("size differs from the index")
