package snapkey

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
)

func writeKey(t testing.TB) []byte {
	w := make([]byte, Size)
	if _, err := rand.Read(w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestHostKeyRoundTrip(t *testing.T) {
	w := writeKey(t)
	h, err := ForHost(w, "web1.example.org")
	if err != nil {
		t.Fatal(err)
	}
	text := h.Encode()
	if !strings.HasPrefix(text, HostPrefix) || !IsHostKey(" "+text+"\n") {
		t.Fatalf("encoded host key %q lacks the prefix", text)
	}
	got, err := ParseHost(text + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *h {
		t.Errorf("parsed host key differs from the encoded one")
	}
	k := FromWriteKey(w)
	if got.MAC != HostMAC(k.MAC, "web1.example.org") || got.MAC == k.MAC {
		t.Errorf("the host key's MAC key is not HostMAC(K(mac), name)")
	}
	if bytes.Contains([]byte(text), w) {
		t.Errorf("the host key holds the write key")
	}
	for _, f := range []string{"%v", "%s", "%q", "%x", "%+v"} {
		if s := fmt.Sprintf(f, h); strings.Contains(s, text[len(HostPrefix):]) || !strings.Contains(s, "redacted") {
			t.Errorf("%s of a host key: %q", f, s)
		}
	}
}

func TestParseHostErrorsKeepTheSecret(t *testing.T) {
	h, _ := ForHost(writeKey(t), "web1")
	text := h.Encode()
	body := text[len(HostPrefix):]
	flip := []byte(text)
	flip[len(flip)-10] ^= 'A' ^ 'B'
	for _, in := range []string{"", "abc", strings.Repeat("ab", 32), text[:len(text)-5], string(flip), HostPrefix + "!!!" + body, text + "AAAA"} {
		_, err := ParseHost(in)
		if err == nil {
			t.Errorf("ParseHost(%.30q...) accepted", in)
			continue
		}
		if len(in) > 8 && strings.Contains(err.Error(), in[len(in)-8:]) || strings.Contains(err.Error(), body[:8]) {
			t.Errorf("the error repeats the input: %v", err)
		}
	}
}

func TestCheckHostName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"web1", true}, {"db-2.example.org", true}, {"a", true}, {"0", true},
		{strings.Repeat("a", 63), true}, {strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a", true},
		{"", false}, {"/", false}, {"a/b", false}, {"web1\nweb2", false}, {"Web1", false}, {"web_1", false},
		{"web 1", false}, {"-web", false}, {"web-", false}, {"a..b", false}, {".a", false}, {"a.", false},
		{strings.Repeat("a", 64), false}, {strings.Repeat(strings.Repeat("a", 62)+".", 4) + "ab", false},
		{"wéb", false},
	} {
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			err := CheckHostName(c.name)
			if (err == nil) != c.ok {
				t.Fatalf("CheckHostName(%q) = %v, want ok=%v", c.name, err, c.ok)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("the error holds a raw line break: %q", err)
			}
		})
	}
	if _, err := ForHost(writeKey(t), "Web1"); err == nil || !strings.Contains(err.Error(), "use web1") {
		t.Errorf("ForHost with upper case: %v", err)
	}
}

func FuzzParseHost(f *testing.F) {
	h, _ := ForHost(writeKey(f), "web1")
	f.Add(h.Encode())
	f.Add(HostPrefix)
	f.Add(HostPrefix + "AA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			return
		}
		if CheckHostName(h.Name) != nil {
			t.Fatalf("parsed a host key for an invalid name %q", h.Name)
		}
		if again, err := ParseHost(h.Encode()); err != nil || *again != *h {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}
