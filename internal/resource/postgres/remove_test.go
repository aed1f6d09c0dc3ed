package postgres

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRemoveEntry: removing what setEntry added gives the file back as it
// was, block and blank line included; other entries stay.
func TestRemoveEntry(t *testing.T) {
	a := "host\tapp\tapp\t10.0.0.0/8\tscram-sha-256\t# tend:a"
	b := "local\tall\tops\tpeer\t# tend:b"
	for _, file := range []string{debianHBA, "host all all 0.0.0.0/0 reject\n", "", "# x\n"} {
		one := setEntry(file, "a", a)
		two := setEntry(one, "b", b)
		if diff := cmp.Diff(file, removeEntry(one, "a")); diff != "" {
			t.Errorf("remove the only entry (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(setEntry(file, "b", b), removeEntry(two, "a")); diff != "" {
			t.Errorf("remove one of two entries (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(file, removeEntry(removeEntry(two, "b"), "a")); diff != "" {
			t.Errorf("remove both entries (-want +got):\n%s", diff)
		}
		if got := removeEntry(one, "other"); got != one {
			t.Errorf("removing an entry that is not there changed the file:\n%s", got)
		}
	}
	outside := debianHBA + "host all all ::1/128 md5 # tend:a\n"
	if got := removeEntry(outside, "a"); got != outside {
		t.Errorf("removeEntry removed a line outside the managed block")
	}
}

// TestSASLprep: the examples of RFC 4013 section 3, and what PostgreSQL
// does with what SASLprep refuses: it hashes the bytes as they are.
func TestSASLprep(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"soft hyphen mapped to nothing", "I\u00adX", "IX"},
		{"ASCII unchanged", "user", "user"},
		{"case preserved", "USER", "USER"},
		{"ordinal indicator (NFKC)", "\u00aa", "a"},
		{"roman numeral nine (NFKC)", "\u2168", "IX"},
		{"combining characters composed (NFKC)", "pa\u0308sswo\u0308rd", "p\u00e4ssw\u00f6rd"},
		{"non-ASCII space mapped to a space", "pass\u00a0word\u3000", "pass word "},
		{"ASCII control characters are kept: ASCII is not prepared", "a\u0007b", "a\u0007b"},
		{"prohibited character: the raw password", "pä\u0007ss", "pä\u0007ss"},
		{"private use: the raw password", "pä\ue000ss", "pä\ue000ss"},
		{"unassigned in Unicode 3.2: the raw password", "pä\u0221ss", "pä\u0221ss"},
		{"right-to-left with a digit last: the raw password", "\u0627\u0031", "\u0627\u0031"},
		{"right-to-left mixed with left-to-right: the raw password", "\u0627a\u0627", "\u0627a\u0627"},
		{"right-to-left alone", "\u0627\u0628", "\u0627\u0628"},
		{"only mapped to nothing: the raw password", "\u00ad", "\u00ad"},
		{"not UTF-8: the raw bytes", "p\xe4ss", "p\xe4ss"},
	} {
		if got := saslprep(tc.in); got != tc.want {
			t.Errorf("%s: saslprep(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestPendingReason(t *testing.T) {
	if got := pendingReason([]string{"shared_buffers"}); !strings.HasPrefix(got, "restart pending: shared_buffers") || !strings.Contains(got, "restart: allowed") {
		t.Errorf("reason: %s", got)
	}
}
