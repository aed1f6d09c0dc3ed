// Package seal compresses and encrypts backup data as a stream: zstd, then
// age to X25519 recipients. Hosts hold only recipients (public keys), so a
// compromised host can write new backups but cannot read old ones; reading
// needs an identity, kept off the hosts.
//
// A sealed stream is an age file (age-encryption.org/v1) whose plaintext is
// one or more zstd frames. age authenticates every 64 KiB chunk and the end
// of the stream, so tampering and truncation are errors, never short data.
package seal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// MaxWindow bounds the zstd window a reader accepts, so that a stream
// written by a compromised host cannot make a restore allocate gigabytes.
const MaxWindow = 64 << 20

// Writer seals what is written to it. Close must be called and its error
// checked: it writes the end of the stream, without which the stream is
// refused as truncated.
type Writer struct {
	enc io.WriteCloser // age
	zw  *zstd.Encoder
}

// NewWriter returns a Writer sealing to dst for the recipients.
func NewWriter(dst io.Writer, recipients ...age.Recipient) (*Writer, error) {
	return NewWriterLevel(dst, zstd.SpeedDefault, recipients...)
}

// NewWriterLevel is NewWriter with another compression level: for data
// that must keep up with a producer (WAL), zstd.SpeedFastest.
func NewWriterLevel(dst io.Writer, level zstd.EncoderLevel, recipients ...age.Recipient) (*Writer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	enc, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	zw, err := zstd.NewWriter(enc, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(8<<20))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Writer{enc: enc, zw: zw}, nil
}

func (w *Writer) Write(p []byte) (int, error) { return w.zw.Write(p) }

// Close flushes the compressor and ends the encrypted stream. It does not
// close dst.
func (w *Writer) Close() error {
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("seal: compress: %w", err)
	}
	if err := w.enc.Close(); err != nil {
		return fmt.Errorf("seal: encrypt: %w", err)
	}
	return nil
}

// Reader opens a sealed stream. Read returns an error if the stream was
// tampered with or truncated; data returned before such an error is
// authentic but incomplete, so consumers must not act on it before EOF.
type Reader struct {
	zr *zstd.Decoder
}

// NewReader returns a Reader of the sealed stream src. It reads the age
// header at once: an identity that matches no recipient is reported here
// (wrapping *age.NoIdentityMatchError).
func NewReader(src io.Reader, identities ...age.Identity) (*Reader, error) {
	if len(identities) == 0 {
		return nil, errors.New("unseal: no identities")
	}
	dec, err := age.Decrypt(src, identities...)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	zr, err := zstd.NewReader(dec, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxWindow),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return &Reader{zr: zr}, nil
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.zr.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("unseal: %w", err)
	}
	return n, err
}

// Close releases the decompressor. It does not close src.
func (r *Reader) Close() error {
	r.zr.Close()
	return nil
}

// ParseRecipients reads X25519 recipients ("age1..."), one per line; blank
// lines and lines starting with "#" are ignored. Errors name the line.
func ParseRecipients(text string) ([]age.Recipient, error) {
	var rs []age.Recipient
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := age.ParseX25519Recipient(line)
		if err != nil {
			return nil, fmt.Errorf("recipients line %d: not an age X25519 recipient (age1...): %w", n, err)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	if len(rs) == 0 {
		return nil, errors.New("recipients: none found")
	}
	return rs, nil
}

// ParseIdentities reads X25519 identities ("AGE-SECRET-KEY-1..."), one per
// line, with blank lines and "#" comments. Errors name the line but never
// repeat its content, which is secret.
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("identities line %d: not an age X25519 identity (AGE-SECRET-KEY-1...)", n)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("identities: none found")
	}
	return ids, nil
}
