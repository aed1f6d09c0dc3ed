package snapshot

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"

	"tend/internal/snapkey"
)

// KeySize is the length of a repository write key in bytes.
const KeySize = snapkey.Size

// ID names a blob, a pack, an index file or a snapshot: 32 bytes, shown in
// hex. Blob IDs are keyed (HMAC-SHA256 with the write key), so the store
// operator cannot test whether a known file is stored.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the 8-hex-digit prefix shown in listings.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// ParseID reads a full 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("invalid ID %q: want 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// GenerateKey returns a new random write key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseKey reads a write key written as 64 hex digits (surrounding space
// ignored). The error never repeats the input, which is secret.
func ParseKey(s string) ([]byte, error) {
	s = string(bytes.TrimSpace([]byte(s)))
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != KeySize {
		return nil, errors.New("snapshot write key: want 64 hex digits (32 bytes)")
	}
	return k, nil
}

// keys are the subkeys a repository is opened with, one per purpose (see
// package snapkey). With the write key, mac is K(mac) and every host's
// MAC key derives from it; with a host key, mac is nil and only host's
// own MAC key is known.
type keys struct {
	idKey   []byte // HMAC key for blob IDs
	meta    [32]byte
	mac     []byte // K(mac): config key_check, root of host MAC keys (write key only)
	check   []byte // K(check): config host_check
	chunker []byte // seed of the chunker polynomial
	host    string // with a host key: its host
	hostMAC []byte // with a host key: its MAC key
}

func derive(w []byte, label string) []byte {
	m := hmac.New(sha256.New, w)
	m.Write([]byte("tend snapshot v1 " + label))
	return m.Sum(nil)
}

func deriveKeys(w []byte) keys {
	d := snapkey.FromWriteKey(w)
	return keys{idKey: d.BlobID[:], meta: d.Metadata, mac: d.MAC[:], check: d.Check[:], chunker: d.Chunker[:]}
}

func hostKeys(h *snapkey.Host) keys {
	return keys{idKey: h.BlobID[:], meta: h.Metadata, check: h.Check[:], chunker: h.Chunker[:], host: h.Name, hostMAC: h.MAC[:]}
}

// macFor is the key that MACs host's snapshots, or nil when these keys
// cannot make or verify them (a host key for another host).
func (k *keys) macFor(host string) []byte {
	switch {
	case k.mac != nil:
		m := snapkey.HostMAC([32]byte(k.mac), host)
		return m[:]
	case host == k.host:
		return k.hostMAC
	}
	return nil
}

// blobID is the keyed ID of plaintext p.
func (k *keys) blobID(p []byte) ID {
	m := hmac.New(sha256.New, k.idKey)
	m.Write(p)
	var id ID
	m.Sum(id[:0])
	return id
}

// sign MACs data under label with K(mac).
func (k *keys) sign(label string, data []byte) string { return signWith(k.mac, label, data) }

func (k *keys) verify(label string, data []byte, mac string) bool {
	return verifyWith(k.mac, label, data, mac)
}

// signWith MACs label, a zero byte and data with key.
func signWith(key []byte, label string, data []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

func verifyWith(key []byte, label string, data []byte, mac string) bool {
	want := signWith(key, label, data)
	return hmac.Equal([]byte(want), []byte(mac))
}

// keyStream is a deterministic byte stream from a seed (ChaCha20 with a
// zero nonce), used to derive the chunker polynomial from the write key.
func keyStream(seed []byte) io.Reader {
	c, err := chacha20.NewUnauthenticatedCipher(seed[:32], make([]byte, chacha20.NonceSize))
	if err != nil {
		panic(err) // sizes are fixed
	}
	return &streamReader{c: c}
}

type streamReader struct{ c *chacha20.Cipher }

func (s *streamReader) Read(p []byte) (int, error) {
	clear(p)
	s.c.XORKeyStream(p, p)
	return len(p), nil
}

// sealMeta encrypts an index or mark object with the metadata key (which
// every holder of the write key has): magic, nonce, XChaCha20-Poly1305 of
// the body with the magic as additional data.
func sealMeta(key *[32]byte, magic string, body []byte) []byte {
	aead, _ := chacha20poly1305.NewX(key[:])
	out := make([]byte, len(magic)+aead.NonceSize(), len(magic)+aead.NonceSize()+len(body)+aead.Overhead())
	copy(out, magic)
	nonce := out[len(magic):]
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return aead.Seal(out, nonce, body, []byte(magic))
}

func openMeta(key *[32]byte, magic string, data []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.NewX(key[:])
	if len(data) < len(magic)+aead.NonceSize()+aead.Overhead() || string(data[:len(magic)]) != magic {
		return nil, errors.New("not a tend snapshot object of this kind (bad magic or truncated)")
	}
	nonce := data[len(magic) : len(magic)+aead.NonceSize()]
	body, err := aead.Open(nil, nonce, data[len(magic)+aead.NonceSize():], []byte(magic))
	if err != nil {
		return nil, errors.New("authentication failed: the object was altered, or the write key is wrong")
	}
	return body, nil
}

// wrapKey encrypts a pack key to the recipients with age.
func wrapKey(k []byte, rs []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(k); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unwrapKey decrypts a pack key with the identities.
func unwrapKey(b []byte, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(b), ids...)
	if err != nil {
		return nil, err
	}
	k, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return nil, err
	}
	if len(k) != chacha20poly1305.KeySize {
		return nil, errors.New("pack key has the wrong length")
	}
	return k, nil
}

func putU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func putU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
