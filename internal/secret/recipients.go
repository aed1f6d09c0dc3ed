package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
)

// Who can read a secret file is decided by its recipient list, and anyone who
// can write to the repository can edit that list. Two checks catch a list
// changed by hand (docs/secrets.md, "Who can change the recipients"):
//
//   - with a key: every value's plaintext holds the digest of the recipient
//     list it was encrypted to (bindPrefix). Only someone who can open a value
//     can bind it to a new list, and a repository writer without a key cannot
//     forge the binding of the values that are already there.
//   - without a key: the age header of every value has one stanza per
//     recipient it was encrypted to, and age's header MAC keeps anyone without
//     the value's file key from adding one. A value encrypted to fewer or more
//     recipients than the file lists means the list was changed afterwards.
//     Counting cannot see a key replaced by another.

// recipientsDigest is what a value is bound to: SHA-256 over the environment
// and the sorted recipient keys. Order and labels are not part of it: labels
// are notes for people, the keys decide who can read.
func (f *File) recipientsDigest() [32]byte {
	keys := make([]string, len(f.Recipients))
	for i, r := range f.Recipients {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	return sha256.Sum256([]byte("tend-recipients-v1\x00" + f.Env + "\x00" + strings.Join(keys, "\n")))
}

// stanzas counts the recipient stanzas in the age header of an encoded
// value, or returns -1 when the value is not a complete age file.
func stanzas(ct string) int {
	if checkCiphertext(ct) != "" {
		return -1
	}
	raw, _ := base64.StdEncoding.Strict().DecodeString(ct)
	header := raw[:bytes.Index(raw, []byte("\n--- "))+1]
	return bytes.Count(header, []byte("\n-> "))
}

// CheckRecipients is the check that needs no key: every value of f was
// encrypted to as many recipients as f lists. A recipient added to the list
// (or removed from it) by editing the file fails it. Values that are not
// complete age files are left to Parse and Decrypt.
func (f *File) CheckRecipients() error {
	var bad []string
	for _, e := range f.Secrets {
		if n := stanzas(e.Ciphertext); n >= 0 && n != len(f.Recipients) {
			bad = append(bad, fmt.Sprintf("%s was encrypted to %d", entryName(e), n))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return f.recipientsChanged(fmt.Sprintf("the file lists %d recipients, but %s", len(f.Recipients), strings.Join(bad, ", ")))
}

// ErrRecipientsChanged is the cause of every error that says a file's
// recipient list was changed without a key.
var ErrRecipientsChanged = errors.New("recipients changed without a key")

type recipientsError struct {
	path, detail string
}

func (e *recipientsError) Error() string {
	return fmt.Sprintf("the recipients of %s were changed without a key: %s", e.path, e.detail)
}

func (e *recipientsError) Unwrap() error { return ErrRecipientsChanged }

func (f *File) recipientsChanged(detail string) error {
	return hint.Wrap(&recipientsError{path: f.Path, detail: detail}, fmt.Sprintf(
		"recipients are changed with 'tend secret rekey %s --add/--remove' by a holder of a key;\n"+
			"see who changed them with 'git log -p %s'. If the list is right (after a merge, say),\n"+
			"a holder of a key runs 'tend secret rekey %[1]s --confirm-recipients'", f.Env, f.Path))
}

func entryName(e Entry) string {
	if e.Line == 0 {
		return e.Name
	}
	return fmt.Sprintf("%s (line %d)", e.Name, e.Line)
}

func entryList(es []Entry) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = entryName(e)
	}
	if len(es) == 1 {
		return names[0] + " was"
	}
	return strings.Join(names, ", ") + " were"
}

// Verification says how far Verify could check a file's recipient list.
type Verification struct {
	// Keyed: a key at hand opened the file, so every value's binding to the
	// list was checked; otherwise only the numbers of recipients were.
	Keyed bool
	// Legacy names the values written by a tend older than these bindings:
	// they vouch for no list. Known only when Keyed.
	Legacy []string
}

// Verify checks that f's recipient list is the one its values were encrypted
// to. With ids that open f, it decrypts every value and checks its binding
// (and fails like Decrypt); with none (ids may be nil), or ids that are not
// recipients of f, it only counts each value's recipients (CheckRecipients).
// Commands call it before they encrypt anything to f's recipients.
func (f *File) Verify(ids []age.Identity) (Verification, error) {
	if !f.HasAnyRecipient(PublicKeys(ids)) {
		return Verification{}, f.CheckRecipients()
	}
	_, legacy, err := f.decrypt(ids, false)
	return Verification{Keyed: true, Legacy: legacy}, err
}

// HasAnyRecipient reports whether one of keys is a recipient of f.
func (f *File) HasAnyRecipient(keys []string) bool {
	return slices.ContainsFunc(keys, f.HasRecipient)
}

// Note returns what a user should know about v for f, or "": values that
// vouch for no recipient list, and how to bind them.
func (v Verification) Note(f *File) string {
	if len(v.Legacy) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %d of %d values (%s) were written by an older tend and do not authenticate the recipients;\n"+
		"check the recipients in the file, then run 'tend secret rekey %s --confirm-recipients'",
		f.Path, len(v.Legacy), len(f.Secrets), strings.Join(v.Legacy, ", "), f.Env)
}
