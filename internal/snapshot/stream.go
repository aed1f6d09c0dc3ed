package snapshot

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Index objects are sealed as a stream of segments, so that loading the
// index needs no buffer the size of an index object (RAM stays near the 52
// bytes per blob of the in-memory index): magic, a 16-byte random nonce
// prefix, then segments of segSize plaintext bytes, each sealed with
// XChaCha20-Poly1305 under the metadata key, nonce = prefix || counter
// (big-endian uint64), additional data = magic || last (1 on the final
// segment, else 0). The final segment is shorter than segSize (possibly
// empty), so truncation and reordering are detected.
const segSize = 64 << 10

func sealStream(key *[32]byte, magic string, body []byte) []byte {
	aead, _ := chacha20poly1305.NewX(key[:])
	out := make([]byte, 0, len(magic)+16+len(body)+(len(body)/segSize+1)*aead.Overhead())
	out = append(out, magic...)
	var prefix [16]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		panic(err)
	}
	out = append(out, prefix[:]...)
	for i := uint64(0); ; i++ {
		n := min(len(body), segSize)
		last := n < segSize
		out = aead.Seal(out, segNonce(prefix, i), body[:n], segAD(magic, last))
		body = body[n:]
		if last {
			return out
		}
	}
}

func segNonce(prefix [16]byte, i uint64) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	copy(n, prefix[:])
	binary.BigEndian.PutUint64(n[16:], i)
	return n
}

func segAD(magic string, last bool) []byte {
	ad := []byte(magic + "\x00")
	if last {
		ad[len(ad)-1] = 1
	}
	return ad
}

// streamReader decrypts a sealed stream as it is read.
type openStream struct {
	r      io.Reader
	aead   cipher.AEAD
	magic  string
	prefix [16]byte
	i      uint64
	in     []byte
	out    []byte
	plain  []byte
	done   bool
}

func newOpenStream(key *[32]byte, magic string, r io.Reader) (*openStream, error) {
	aead, _ := chacha20poly1305.NewX(key[:])
	hdr := make([]byte, len(magic)+16)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(magic)]) != magic {
		return nil, errors.New("not a tend snapshot object of this kind (bad magic or truncated)")
	}
	s := &openStream{r: r, aead: aead, magic: magic, in: make([]byte, segSize+aead.Overhead())}
	copy(s.prefix[:], hdr[len(magic):])
	return s, nil
}

var errAuth = errors.New("authentication failed: the object was altered or truncated, or the write key is wrong")

func (s *openStream) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(s.r, s.in)
		last := false
		switch {
		case err == io.ErrUnexpectedEOF || (err == io.EOF && n == 0):
			last = true
			if err == io.EOF && n == 0 {
				return 0, errAuth // the final segment is missing
			}
		case err != nil:
			return 0, err
		}
		s.out, err = s.aead.Open(s.out[:0], segNonce(s.prefix, s.i), s.in[:n], segAD(s.magic, last))
		if err != nil {
			return 0, errAuth
		}
		s.i++
		s.plain = s.out
		s.done = last
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}
