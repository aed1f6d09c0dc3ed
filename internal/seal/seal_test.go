package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

func identity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sealBytes(t *testing.T, data []byte, rs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unseal(sealed []byte, ids ...age.Identity) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), ids...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTrip(t *testing.T) {
	id := identity(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{42}},
		{"age chunk boundary", randomBytes(64 << 10)},
		{"just over a chunk", randomBytes(64<<10 + 1)},
		{"text", bytes.Repeat([]byte("INSERT INTO t VALUES (1, 'row');\n"), 100000)},
		{"random 3 MiB", randomBytes(3 << 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unseal(sealBytes(t, tt.data, id.Recipient()), id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("round trip returned %d bytes, different from the %d sealed", len(got), len(tt.data))
			}
		})
	}
}

func TestAnyRecipientCanOpen(t *testing.T) {
	a, b := identity(t), identity(t)
	sealed := sealBytes(t, []byte("for both"), a.Recipient(), b.Recipient())
	for _, id := range []*age.X25519Identity{a, b} {
		if got, err := unseal(sealed, id); err != nil || string(got) != "for both" {
			t.Errorf("unseal with one of two recipients = %q, %v", got, err)
		}
	}
}

func TestWrongIdentity(t *testing.T) {
	sealed := sealBytes(t, []byte("secret"), identity(t).Recipient())
	_, err := unseal(sealed, identity(t))
	var nomatch *age.NoIdentityMatchError
	if !errors.As(err, &nomatch) {
		t.Errorf("unseal with the wrong identity = %v, want *age.NoIdentityMatchError", err)
	}
}

// Truncation anywhere, including at a chunk boundary, must be an error,
// never a shorter plaintext.
func TestTruncated(t *testing.T) {
	id := identity(t)
	data := randomBytes(200 << 10)
	sealed := sealBytes(t, data, id.Recipient())
	headerEnd := bytes.Index(sealed, []byte("\n---")) + 48 // header, MAC line, nonce
	for _, cut := range []int{0, 10, headerEnd - 5, headerEnd, headerEnd + 1, len(sealed) / 2,
		headerEnd + 64<<10 + 16, len(sealed) - 17, len(sealed) - 16, len(sealed) - 1} {
		got, err := unseal(sealed[:cut], id)
		if err == nil {
			t.Errorf("unseal of the first %d of %d bytes returned %d bytes and no error", cut, len(sealed), len(got))
		}
	}
	// A writer that was never closed leaves a truncated stream too.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, id.Recipient())
	w.Write(data)
	if _, err := unseal(buf.Bytes(), id); err == nil {
		t.Error("unseal of a stream whose writer was not closed succeeded")
	}
}

func TestTampered(t *testing.T) {
	id := identity(t)
	data := bytes.Repeat([]byte("important rows\n"), 20000)
	sealed := sealBytes(t, data, id.Recipient())
	for _, pos := range []int{20, len(sealed) / 3, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[pos] ^= 0x01
		if _, err := unseal(bad, id); err == nil {
			t.Errorf("unseal with byte %d of %d flipped succeeded", pos, len(sealed))
		}
	}
	// Appended garbage.
	if _, err := unseal(append(bytes.Clone(sealed), "extra"...), id); err == nil {
		t.Error("unseal with bytes appended succeeded")
	}
}

func TestSize(t *testing.T) {
	id := identity(t)
	random := randomBytes(4 << 20)
	if n := len(sealBytes(t, random, id.Recipient())); n > len(random)+len(random)/500+1024 {
		t.Errorf("4 MiB of random data sealed to %d bytes: inflated by %d", n, n-len(random))
	}
	text := bytes.Repeat([]byte("2026-01-01 00:00:00 UTC LOG: checkpoint complete\n"), 50000)
	if n := len(sealBytes(t, text, id.Recipient())); n > len(text)/20 {
		t.Errorf("%d bytes of repetitive text sealed to %d bytes: not compressed", len(text), n)
	}
}

func TestParseRecipients(t *testing.T) {
	a, b := identity(t), identity(t)
	text := "# backups\n" + a.Recipient().String() + "\n\n  " + b.Recipient().String() + "  \n"
	rs, err := ParseRecipients(text)
	if err != nil || len(rs) != 2 {
		t.Fatalf("ParseRecipients = %d recipients, %v; want 2", len(rs), err)
	}
	for _, bad := range []string{"", "# only a comment\n", "age1notakey\n", a.String() + "\n"} {
		if _, err := ParseRecipients(bad); err == nil {
			t.Errorf("ParseRecipients(%.20q...) succeeded", bad)
		}
	}
	_, err = ParseRecipients("# x\n" + a.Recipient().String() + "\nbogus\n")
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v does not name line 3", err)
	}
}

func TestParseIdentities(t *testing.T) {
	a := identity(t)
	ids, err := ParseIdentities(strings.NewReader("# key\n" + a.String() + "\n"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities = %d, %v", len(ids), err)
	}
	sealed := sealBytes(t, []byte("x"), a.Recipient())
	if got, err := unseal(sealed, ids...); err != nil || string(got) != "x" {
		t.Errorf("unseal with parsed identity = %q, %v", got, err)
	}
	// A damaged secret key must not be echoed in the error.
	damaged := a.String()[:len(a.String())-3] + "QQQ"
	_, err = ParseIdentities(strings.NewReader(damaged + "\n"))
	if err == nil {
		t.Fatal("ParseIdentities accepted a damaged key")
	}
	if strings.Contains(err.Error(), damaged[15:30]) {
		t.Errorf("error %q repeats the secret key", err)
	}
}

func TestNoKeys(t *testing.T) {
	if _, err := NewWriter(io.Discard); err == nil {
		t.Error("NewWriter without recipients succeeded")
	}
	if _, err := NewReader(strings.NewReader("")); err == nil {
		t.Error("NewReader without identities succeeded")
	}
}
