package secret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
)

// ParseRecipients parses command-line recipients, each "age1...[=label]".
func ParseRecipients(args []string) ([]Recipient, error) {
	var rs []Recipient
	for _, a := range args {
		r, err := ParseRecipient(a)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// LoadOrNew loads the secret file at path or, when it does not exist and
// recipients (command-line form, see ParseRecipient) are given, starts a new
// one for them. Recipients for an existing file are refused: they are changed
// with Rekey.
func LoadOrNew(path string, recipients []string) (*File, error) {
	env := strings.TrimSuffix(filepath.Base(path), ".yaml")
	f, err := Load(path)
	switch {
	case err == nil && len(recipients) > 0:
		return nil, hint.Wrap(fmt.Errorf("%s exists: --recipient only applies to a new file", path),
			fmt.Sprintf("change recipients with 'tend secret rekey %s --add/--remove'", env))
	case err == nil:
		return f, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	case len(recipients) == 0:
		return nil, hint.Wrap(fmt.Errorf("%s does not exist and no recipient was given", path),
			"create it with --recipient age1... (repeatable): the public keys that may open this environment's secrets")
	}
	rs, err := ParseRecipients(recipients)
	if err != nil {
		return nil, err
	}
	return New(path, rs)
}

// Put encrypts values to f's recipients under their names and saves f, after
// Verify (with ids, which may be nil) found the recipient list to be the one
// the values already in f were encrypted to: nothing is encrypted to a key
// added to the file by hand. Names f already holds are refused unless
// replace. Put needs no key; with one, it checks more.
func (f *File) Put(ids []age.Identity, values map[string]Value, replace bool) (Verification, error) {
	for _, n := range sortedKeys(values) {
		if err := CheckName(n); err != nil {
			return Verification{}, err
		}
	}
	v, err := f.Verify(ids)
	if err != nil {
		return Verification{}, err
	}
	if !replace {
		var clash []string
		for _, n := range f.Names() {
			if _, ok := values[n]; ok {
				clash = append(clash, n)
			}
		}
		if len(clash) > 0 {
			return v, hint.Wrap(fmt.Errorf("%s already holds %s", f.Path, strings.Join(clash, ", ")),
				"remove them first with 'tend secret rm', or change them with 'tend secret edit'")
		}
	}
	for _, n := range sortedKeys(values) {
		if err := f.Set(n, values[n]); err != nil {
			return v, err
		}
	}
	return v, f.Save()
}
