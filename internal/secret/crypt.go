package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
)

// bindPrefix starts every plaintext, followed by the secret's name, a NUL,
// the digest of the recipient list the value was encrypted to (32 bytes, see
// recipientsDigest) and the value: a ciphertext copied or moved to another
// name no longer opens, and a recipient list changed without re-encrypting
// the values no longer matches them.
const bindPrefix = "tend-secret-v2\x00"

// legacyPrefix starts the plaintexts written before recipient lists were
// authenticated: name, NUL, value. They still open; they vouch for no list.
const legacyPrefix = "tend-secret-v1\x00"

// maxValue bounds one decrypted value, so a damaged or hostile file cannot
// make tend allocate without limit.
const maxValue = 1 << 20

func (f *File) ageRecipients() ([]age.Recipient, error) {
	if len(f.Recipients) == 0 {
		return nil, fmt.Errorf("%s: no recipients: nobody could open a value", f.Path)
	}
	rs := make([]age.Recipient, len(f.Recipients))
	for i, r := range f.Recipients {
		x, err := age.ParseX25519Recipient(r.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: recipient %q is not an age X25519 public key", f.Path, r.Key)
		}
		rs[i] = x
	}
	return rs, nil
}

func seal(name string, digest [32]byte, v Value, rs []age.Recipient) (string, error) {
	if len(v.Reveal()) > maxValue {
		return "", fmt.Errorf("secret %s: value is larger than %d bytes", name, maxValue)
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, rs...)
	if err != nil {
		return "", fmt.Errorf("secret %s: encrypt: %w", name, err)
	}
	pt := make([]byte, 0, len(bindPrefix)+len(name)+1+len(digest)+len(v.Reveal()))
	pt = append(append(append(append(append(pt, bindPrefix...), name...), 0), digest[:]...), v.Reveal()...)
	_, err = w.Write(pt)
	clear(pt)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: encrypt: %w", name, err)
	}
	return base64.StdEncoding.EncodeToString(out.Bytes()), nil
}

// errNoMatch: none of the identities opens the value.
var errNoMatch = errors.New("no identity matched")

// opened is one decrypted value and the recipient list it was bound to.
type opened struct {
	value  Value
	digest [32]byte
	legacy bool // written by an older tend: no digest
}

// open decrypts one entry. Its errors never contain plaintext.
func open(e Entry, ids []age.Identity) (opened, error) {
	if msg := checkCiphertext(e.Ciphertext); msg != "" {
		return opened{}, fmt.Errorf("value of %s %s", e.Name, msg)
	}
	raw, _ := base64.StdEncoding.Strict().DecodeString(e.Ciphertext)
	r, err := age.Decrypt(bytes.NewReader(raw), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return opened{}, errNoMatch
		}
		if strings.Contains(err.Error(), "header") {
			return opened{}, fmt.Errorf("value of %s is damaged or tampered with (its age header does not verify)", e.Name)
		}
		return opened{}, fmt.Errorf("value of %s is damaged or tampered with (%v)", e.Name, err)
	}
	pt, err := io.ReadAll(io.LimitReader(r, int64(len(bindPrefix)+len(e.Name)+1+32+maxValue+1)))
	defer clear(pt)
	if err != nil {
		return opened{}, fmt.Errorf("value of %s is damaged, truncated or tampered with (its payload does not authenticate)", e.Name)
	}
	var o opened
	rest, ok := bytes.CutPrefix(pt, []byte(bindPrefix))
	if !ok {
		if rest, ok = bytes.CutPrefix(pt, []byte(legacyPrefix)); !ok {
			return opened{}, fmt.Errorf("value of %s was not written by tend (no tend-secret binding)", e.Name)
		}
		o.legacy = true
	}
	name, value, ok := bytes.Cut(rest, []byte{0})
	if !ok || string(name) != e.Name {
		return opened{}, fmt.Errorf("value of %s is tampered with: it was encrypted for another secret name (a line was moved or copied)", e.Name)
	}
	if !o.legacy {
		if len(value) < len(o.digest) {
			return opened{}, fmt.Errorf("value of %s was not written by tend (its binding is too short)", e.Name)
		}
		copy(o.digest[:], value)
		value = value[len(o.digest):]
	}
	o.value = NewValue(string(value))
	return o, nil
}

// keyRecipients returns the public keys of ids.
func keyRecipients(ids []age.Identity) []string {
	var keys []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			keys = append(keys, x.Recipient().String())
		}
	}
	return keys
}

// checkKey fails, naming the file and its recipients, when none of ids is a
// recipient of f.
func (f *File) checkKey(ids []age.Identity) error {
	mine := keyRecipients(ids)
	for _, k := range mine {
		if f.HasRecipient(k) {
			return nil
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: your key (%s) is not a recipient of this file; it opens only with:", f.Path, strings.Join(mine, ", "))
	for _, r := range f.Recipients {
		fmt.Fprintf(&b, "\n  %s", r.Key)
		if r.Label != "" {
			fmt.Fprintf(&b, "  # %s", r.Label)
		}
	}
	return hint.Wrap(errors.New(b.String()), fmt.Sprintf(
		"use the key of one of these recipients (TEND_AGE_KEY or TEND_AGE_KEY_FILE), or ask its holder to run\n'tend secret rekey %s --add <your public key>'", f.Env))
}

func (f *File) openErr(e Entry, ids []age.Identity, err error) error {
	if errors.Is(err, errNoMatch) {
		err = fmt.Errorf("value of %s does not open with your key although the file lists it as a recipient: the line was tampered with, or the recipients were changed without 'tend secret rekey'", e.Name)
	}
	return &PosError{File: f.Path, Line: e.Line, Msg: err.Error()}
}

// Decrypt opens every value of f with ids and returns them by name. It fails,
// listing f's recipients, when none of ids is a recipient; when the recipient
// list is not the one the values were encrypted to (it was changed without a
// key, see Verify); and for every value that does not open, each with
// file:line.
func (f *File) Decrypt(ids []age.Identity) (map[string]Value, error) {
	values, _, err := f.decrypt(ids, false)
	return values, err
}

// decrypt opens every value and returns them with the names of the legacy
// values (bound to no recipient list). With trustList it accepts values
// bound to another list than f's: the caller is about to bind them to f's.
func (f *File) decrypt(ids []age.Identity, trustList bool) (map[string]Value, []string, error) {
	if err := f.checkKey(ids); err != nil {
		return nil, nil, err
	}
	if !trustList {
		if err := f.CheckRecipients(); err != nil {
			return nil, nil, err
		}
	}
	want := f.recipientsDigest()
	values := make(map[string]Value, len(f.Secrets))
	var errs []error
	var legacy []string
	var other []Entry
	for _, e := range f.Secrets {
		o, err := open(e, ids)
		if err != nil {
			errs = append(errs, f.openErr(e, ids, err))
			continue
		}
		values[e.Name] = o.value
		switch {
		case o.legacy:
			legacy = append(legacy, e.Name)
		case o.digest != want:
			other = append(other, e)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, hint.Wrap(err, "restore the damaged lines from git history, or set those secrets again with 'tend secret set'")
	}
	if len(other) > 0 && !trustList {
		return nil, nil, f.recipientsChanged(entryList(other) + " encrypted to another list of recipients than the file's")
	}
	return values, legacy, nil
}

// DecryptOne opens the value called name, after the checks of Decrypt that
// concern it: f lists as many recipients as the value was encrypted to, and
// the value is bound to f's recipient list.
func (f *File) DecryptOne(ids []age.Identity, name string) (Value, error) {
	i := f.index(name)
	if i < 0 {
		return Value{}, f.missing(name)
	}
	if err := f.checkKey(ids); err != nil {
		return Value{}, err
	}
	if err := f.CheckRecipients(); err != nil {
		return Value{}, err
	}
	e := f.Secrets[i]
	o, err := open(e, ids)
	if err != nil {
		return Value{}, hint.Wrap(f.openErr(e, ids, err),
			"restore the line from git history, or set the secret again with 'tend secret set'")
	}
	if !o.legacy && o.digest != f.recipientsDigest() {
		return Value{}, f.recipientsChanged(entryList([]Entry{e}) + " encrypted to another list of recipients than the file's")
	}
	return o.value, nil
}

func (f *File) missing(name string) error {
	return hint.Wrap(fmt.Errorf("%s: no secret called %s", f.Path, name),
		fmt.Sprintf("'tend secret list %s' shows the names", f.Env))
}

// Set encrypts v to f's recipients under name, replacing any previous value.
// It needs no key: anyone can add a secret, only recipients can read it.
func (f *File) Set(name string, v Value) error {
	if err := CheckName(name); err != nil {
		return err
	}
	rs, err := f.ageRecipients()
	if err != nil {
		return err
	}
	ct, err := seal(name, f.recipientsDigest(), v, rs)
	if err != nil {
		return err
	}
	if i := f.index(name); i >= 0 {
		f.Secrets[i].Ciphertext = ct
		return nil
	}
	f.Secrets = append(f.Secrets, Entry{Name: name, Ciphertext: ct})
	return nil
}

// Remove deletes the secret called name.
func (f *File) Remove(name string) error {
	i := f.index(name)
	if i < 0 {
		return f.missing(name)
	}
	f.Secrets = slices.Delete(f.Secrets, i, i+1)
	return nil
}

// Changes says which secrets an update added, changed and removed.
type Changes struct {
	Added, Changed, Removed []string
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Changed)+len(c.Removed) == 0 }

// Update makes f hold exactly the values in next, given old, the values f
// holds now (from Decrypt). Only added and changed values are encrypted
// again; the others keep their ciphertext, so their lines stay
// byte-identical.
func (f *File) Update(old, next map[string]Value) (Changes, error) {
	var c Changes
	for _, name := range sortedKeys(next) {
		if err := CheckName(name); err != nil {
			return Changes{}, err
		}
		prev, ok := old[name]
		if ok && f.Has(name) && prev.Equal(next[name]) {
			continue
		}
		if f.Has(name) {
			c.Changed = append(c.Changed, name)
		} else {
			c.Added = append(c.Added, name)
		}
	}
	for _, name := range f.Names() {
		if _, ok := next[name]; !ok {
			c.Removed = append(c.Removed, name)
		}
	}
	for _, name := range slices.Concat(c.Added, c.Changed) {
		if err := f.Set(name, next[name]); err != nil {
			return Changes{}, err
		}
	}
	for _, name := range c.Removed {
		if err := f.Remove(name); err != nil {
			return Changes{}, err
		}
	}
	return c, nil
}

// RecipientChange is what Rekey does to a file's recipients.
type RecipientChange struct {
	Add    []Recipient
	Remove []string // keys (age1...)
	// Confirm accepts the recipients as the file lists them now, although
	// the values were encrypted to another list (after a merge, or to bind
	// the values of an older tend): the caller checked the list.
	Confirm bool
}

// Rekey opens every value with ids, applies the recipient changes (add, then
// remove by key) and encrypts every value again to the new recipients, bound
// to the new list, so a removed key cannot open the new ciphertexts. (It can
// still open old copies in git history: rotate the secrets themselves when a
// key is lost.) Unless c.Confirm, it refuses a file whose recipient list was
// changed without a key.
func (f *File) Rekey(ids []age.Identity, c RecipientChange) error {
	values, _, err := f.decrypt(ids, c.Confirm)
	if err != nil {
		return err
	}
	for _, r := range c.Add {
		if err := f.addRecipient(r); err != nil {
			return err
		}
	}
	for _, k := range c.Remove {
		i := slices.IndexFunc(f.Recipients, func(r Recipient) bool { return r.Key == k })
		if i < 0 {
			return fmt.Errorf("%s: %s is not a recipient", f.Path, k)
		}
		f.Recipients = slices.Delete(f.Recipients, i, i+1)
	}
	if len(f.Recipients) == 0 {
		return hint.Wrap(fmt.Errorf("%s: removing every recipient would leave a file nobody can open", f.Path),
			"add the new recipient in the same command: --add age1... --remove age1...")
	}
	for _, name := range f.Names() {
		if err := f.Set(name, values[name]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
