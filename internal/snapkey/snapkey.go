// Package snapkey derives the keys of a snapshot repository from its write
// key: the subkeys every user shares (blob IDs, chunker, metadata), the MAC
// key only administrators hold, and per-host keys that let one host back
// up, and sign snapshots in its own name only, without the write key. It
// imports no other tend package, so that the controller can turn a write
// key into a host key without depending on the snapshot repository code.
package snapkey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"tend/internal/hint"
)

// Size is the length of a write key and of every derived key, in bytes.
const Size = 32

// Keys are the subkeys derived from a write key W, one per purpose:
// K(label) = HMAC-SHA256(W, "tend snapshot v1 " + label).
type Keys struct {
	BlobID   [Size]byte // label "blob id": HMAC key of blob IDs
	Metadata [Size]byte // label "metadata": seals index and mark objects
	Chunker  [Size]byte // label "chunker": seed of the chunker polynomial
	Check    [Size]byte // label "check": the config's host_check MAC
	MAC      [Size]byte // label "mac": config key_check, and the root of host MAC keys
}

func derive(w []byte, label string) (out [Size]byte) {
	m := hmac.New(sha256.New, w)
	m.Write([]byte("tend snapshot v1 " + label))
	m.Sum(out[:0])
	return out
}

// FromWriteKey derives the subkeys of write key w (Size bytes).
func FromWriteKey(w []byte) Keys {
	return Keys{BlobID: derive(w, "blob id"), Metadata: derive(w, "metadata"), Chunker: derive(w, "chunker"),
		Check: derive(w, "check"), MAC: derive(w, "mac")}
}

// HostMAC is the key that MACs the snapshots of host name:
// HMAC-SHA256(K(mac), "host " + name). Holders of the write key derive it
// for any host; a host receives only its own.
func HostMAC(mac [Size]byte, name string) (out [Size]byte) {
	m := hmac.New(sha256.New, mac[:])
	m.Write([]byte("host " + name))
	m.Sum(out[:0])
	return out
}

// Host is one host's key: the shared subkeys deduplication needs, the
// host's name and its own MAC key, but neither the write key nor K(mac),
// so it cannot sign a snapshot in another host's name. Its String and
// Format print a redacted form; Encode gives the secret text.
type Host struct {
	Name     string
	BlobID   [Size]byte
	Metadata [Size]byte
	Chunker  [Size]byte
	Check    [Size]byte
	MAC      [Size]byte // HostMAC(K(mac), Name)
}

// ForHost derives the host key of name from write key w. The name must be
// a host name (see CheckHostName).
func ForHost(w []byte, name string) (*Host, error) {
	if len(w) != Size {
		return nil, fmt.Errorf("host key: the write key must be %d bytes", Size)
	}
	if err := CheckHostName(name); err != nil {
		return nil, err
	}
	k := FromWriteKey(w)
	return &Host{Name: name, BlobID: k.BlobID, Metadata: k.Metadata, Chunker: k.Chunker, Check: k.Check,
		MAC: HostMAC(k.MAC, name)}, nil
}

// HostPrefix starts the text form of a host key.
const HostPrefix = "tend-snapshot-host-1:"

// IsHostKey reports whether s (surrounding space ignored) is written as a
// host key rather than a write key.
func IsHostKey(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), HostPrefix) }

// Encode writes h as text: HostPrefix, then unpadded URL-safe base64 of
// u8 len(name) | name | blob id | metadata | chunker | check | mac key |
// the first 4 bytes of SHA-256 of everything before (to catch a damaged
// copy).
func (h *Host) Encode() string {
	b := []byte{byte(len(h.Name))}
	b = append(b, h.Name...)
	for _, k := range []*[Size]byte{&h.BlobID, &h.Metadata, &h.Chunker, &h.Check, &h.MAC} {
		b = append(b, k[:]...)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:4]...)
	return HostPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// String is redacted: a host key is a secret.
func (h *Host) String() string { return "snapshot host key for " + h.Name + " (**redacted**)" }

// Format keeps %v, %s, %q and %x from printing the secret.
func (h *Host) Format(f fmt.State, _ rune) { f.Write([]byte(h.String())) }

var errHostKey = errors.New("snapshot host key: not a valid " + strings.TrimSuffix(HostPrefix, ":") + " key (damaged or cut short)")

// ParseHost reads a host key written by Encode (surrounding space ignored).
// The error never repeats the input, which is secret.
func ParseHost(s string) (*Host, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, HostPrefix) {
		return nil, errors.New("snapshot host key: want text starting with " + HostPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(HostPrefix):])
	if err != nil || len(b) < 1 {
		return nil, errHostKey
	}
	n := int(b[0])
	if len(b) != 1+n+5*Size+4 {
		return nil, errHostKey
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:4]) {
		return nil, errHostKey
	}
	h := &Host{Name: string(body[1 : 1+n])}
	rest := body[1+n:]
	for _, k := range []*[Size]byte{&h.BlobID, &h.Metadata, &h.Chunker, &h.Check, &h.MAC} {
		copy(k[:], rest[:Size])
		rest = rest[Size:]
	}
	if err := CheckHostName(h.Name); err != nil {
		return nil, errHostKey
	}
	return h, nil
}

// CheckHostName accepts a host name as RFC 1123 writes them, in lower
// case: dot-separated labels of a-z, 0-9 and '-', each 1 to 63 characters
// and neither starting nor ending with '-', 253 characters at most. Upper
// case is refused rather than folded, so that one host has one spelling.
func CheckHostName(name string) error {
	bad := func(why string) error {
		return hint.Wrap(fmt.Errorf("host name %q: %s", name, why),
			"give the host's name in lower case, letters, digits, '-' and dots only (e.g. web1 or web1.example.org)")
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 253:
		return bad("longer than 253 characters")
	}
	for _, l := range strings.Split(name, ".") {
		switch {
		case l == "":
			return bad("empty label (two dots, or a dot at either end)")
		case len(l) > 63:
			return bad("a label is longer than 63 characters")
		case l[0] == '-' || l[len(l)-1] == '-':
			return bad("a label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= 'A' && c <= 'Z':
				return bad("upper case (use " + strings.ToLower(name) + ")")
			default:
				return bad(fmt.Sprintf("character %q is not allowed", c))
			}
		}
	}
	return nil
}
