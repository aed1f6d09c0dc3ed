package snapshot

import (
	"bytes"
	"io"
	"testing"
)

func TestSealedStream(t *testing.T) {
	var key [32]byte
	key[0] = 7
	for _, n := range []int{0, 1, segSize - 1, segSize, segSize + 1, 3*segSize + 5} {
		body := random(n)
		sealed := sealStream(&key, indexMagic, body)
		read := func(data []byte) ([]byte, error) {
			s, err := newOpenStream(&key, indexMagic, bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(s)
		}
		got, err := read(sealed)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("size %d: round trip failed: %v", n, err)
		}
		// Every truncation and every flipped byte is an error, never short data.
		for _, cut := range []int{len(sealed) - 1, len(sealed) - 17, len(indexMagic) + 16} {
			if cut < len(indexMagic)+16 {
				continue
			}
			if _, err := read(sealed[:cut]); err == nil {
				t.Errorf("size %d: truncated to %d bytes: no error", n, cut)
			}
		}
		if n > segSize { // dropping the whole final segment
			full := len(indexMagic) + 16 + (n/segSize)*(segSize+16)
			if _, err := read(sealed[:full]); err == nil {
				t.Errorf("size %d: without the final segment: no error", n)
			}
		}
		bad := bytes.Clone(sealed)
		bad[len(bad)/2] ^= 1
		if _, err := read(bad); err == nil {
			t.Errorf("size %d: altered byte: no error", n)
		}
	}
}
