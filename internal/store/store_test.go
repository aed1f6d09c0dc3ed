package store

import (
	"errors"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	good := []string{"a", "a/b/c", "wal/000000010000000000000001", "ü/日本", "a b", "...", ".hidden/x",
		strings.Repeat("s", MaxSegmentLen), strings.Repeat("k/", MaxKeyLen/2-1) + "k"}
	bad := []string{"", "/a", "a/", "a//b", ".", "..", "a/../b", "x/.", "a\x00", "a\nb", "\x7f", "\xff",
		TempPrefix + "1", "d/" + TempPrefix, strings.Repeat("s", MaxSegmentLen+1), strings.Repeat("k/", MaxKeyLen/2) + "k"}
	for _, k := range good {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%.30q) = %v, want nil", k, err)
		}
	}
	for _, k := range bad {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%.30q) = nil, want an error", k)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "a/b", "a/b/", "a/.", "a/.."} {
		// "a/." and "a/.." are valid prefixes: of "a/.x" and "a/..y".
		if err := ValidPrefix(p); err != nil {
			t.Errorf("ValidPrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "a//", "../", "a/../", "\n"} {
		if err := ValidPrefix(p); err == nil {
			t.Errorf("ValidPrefix(%q) = nil, want an error", p)
		}
	}
}

func TestError(t *testing.T) {
	err := error(&Error{Store: "s3://b/p", Op: "get", Key: "wal/1", Err: ErrNotFound})
	if got, want := err.Error(), `store s3://b/p: get "wal/1": not found`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !IsNotFound(err) || IsExists(err) || !errors.Is(err, ErrNotFound) {
		t.Error("Error does not unwrap to ErrNotFound alone")
	}
}
