// Package secret provides tend's secrets: the redacting Value type, the
// per-environment secret files (secrets/<env>.yaml) whose names are visible
// and whose values are each encrypted with age to the environment's
// recipients, the key lookup (TEND_AGE_KEY or a 0600 key file), the import of
// ansible-vault files, and the search for secret values left in plain text.
//
// Nothing in this package prints, logs or writes a decrypted value to disk;
// Value.Reveal is the only way from a Value to its plaintext.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a Value shows instead of its plaintext.
const Redacted = "**redacted**"

// Value is a secret string that redacts itself wherever it is printed or
// encoded: String, GoString, every fmt verb (%v %+v %#v %s %q %x...), JSON,
// text, YAML and slog all give "**redacted**". The plaintext is held by a
// closure, which reflection cannot look into: a Value in an unexported struct
// field, which fmt prints by reflection without calling its methods, shows
// only a function address. The zero Value is the empty secret.
type Value struct{ get func() string }

// NewValue returns a Value holding s.
func NewValue(s string) Value { return Value{get: func() string { return s }} }

// Reveal returns the plaintext. It is the one deliberate way out: call it only
// where the value must leave tend (a file on a host, `tend secret get`).
func (v Value) Reveal() string {
	if v.get == nil {
		return ""
	}
	return v.get()
}

// Equal reports whether v and w hold the same plaintext, in constant time for
// equal lengths.
func (v Value) Equal(w Value) bool {
	return subtle.ConstantTimeCompare([]byte(v.Reveal()), []byte(w.Reveal())) == 1
}

// String returns "**redacted**".
func (v Value) String() string { return Redacted }

// GoString returns "**redacted**", for %#v.
func (v Value) GoString() string { return Redacted }

// Format writes "**redacted**" for every verb, so %x or %q cannot encode the
// plaintext either.
func (v Value) Format(f fmt.State, verb rune) { fmt.Fprint(f, Redacted) }

// MarshalJSON returns the JSON string "**redacted**".
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns "**redacted**".
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML returns "**redacted**" (the yaml.v3 Marshaler interface).
func (v Value) MarshalYAML() (any, error) { return Redacted, nil }

// LogValue returns "**redacted**" for log/slog.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }
