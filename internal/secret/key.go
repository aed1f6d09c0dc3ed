package secret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"tend/internal/hint"
)

// Environment variables that give tend its age key.
const (
	EnvKey     = "TEND_AGE_KEY"      // the identity itself (AGE-SECRET-KEY-1...), for CI
	EnvKeyFile = "TEND_AGE_KEY_FILE" // a key file; default $HOME/.config/tend/age.key
)

// KeyFile returns the key file tend reads when TEND_AGE_KEY is not set.
func KeyFile(getenv func(string) string) (string, error) {
	if p := getenv(EnvKeyFile); p != "" {
		return p, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", hint.New("cannot find the age key file: HOME is not set", "set TEND_AGE_KEY_FILE or TEND_AGE_KEY")
	}
	return filepath.Join(home, ".config", "tend", "age.key"), nil
}

// Identities returns the age identities that open secret files: those in
// TEND_AGE_KEY when it is set, else those in the key file (TEND_AGE_KEY_FILE,
// default $HOME/.config/tend/age.key), which must not be readable by group or
// others. Errors never contain key material.
func Identities(getenv func(string) string) ([]age.Identity, error) {
	if k := getenv(EnvKey); k != "" {
		ids, err := parseIdentities(k)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("%s: %v", EnvKey, err),
				"set it to the AGE-SECRET-KEY-1... line of a key made by 'tend secret keygen'")
		}
		return ids, nil
	}
	path, err := KeyFile(getenv)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.Wrap(fmt.Errorf("no age key: %s is not set and %s does not exist", EnvKey, path),
			"create a key with 'tend secret keygen' and have a holder of the environment's key run\n'tend secret rekey ENV --add <your public key>'; in CI, set "+EnvKey)
	}
	if err != nil {
		return nil, fmt.Errorf("age key file: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("age key file %s is a directory", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, hint.Wrap(fmt.Errorf("age key file %s has mode %04o: group or others can read it; refusing to use it", path, perm),
			"chmod 600 "+path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("age key file: %w", err)
	}
	ids, err := parseIdentities(string(data))
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("age key file %s: %v", path, err),
			"the file holds AGE-SECRET-KEY-1... lines, as written by 'tend secret keygen'")
	}
	return ids, nil
}

// parseIdentities parses X25519 identities, one per line; '#' starts a
// comment line. Its errors say which line, never what it holds.
func parseIdentities(s string) ([]age.Identity, error) {
	var ids []age.Identity
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("line %d is not an age X25519 identity (AGE-SECRET-KEY-1...)", i+1)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("no identity found")
	}
	return ids, nil
}

// PublicKeys returns the public keys (age1...) of ids.
func PublicKeys(ids []age.Identity) []string { return keyRecipients(ids) }

// GenerateKey writes a new X25519 identity to path with mode 0600, creating
// its directory with mode 0700 if needed, and returns its public key. It
// refuses to overwrite an existing file.
func GenerateKey(path string, now time.Time) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("write key: %w", err)
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", hint.Wrap(fmt.Errorf("key file %s already exists; refusing to overwrite it", path),
			"losing a key loses access to every secret encrypted only to it; choose another file with --out")
	}
	if err != nil {
		return "", fmt.Errorf("write key: %w", err)
	}
	pub := id.Recipient().String()
	_, err = fmt.Fprintf(out, "# created: %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), pub, id)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write key %s: %w", path, err)
	}
	return pub, nil
}

// OptionalIdentities returns the identities of Identities, or none when no
// key is configured at all (TEND_AGE_KEY not set and no key file): for
// commands that need no key but check more with one. A key that is
// configured but unusable is still an error.
func OptionalIdentities(getenv func(string) string) ([]age.Identity, error) {
	if getenv(EnvKey) == "" {
		path, err := KeyFile(getenv)
		if err != nil {
			return nil, nil
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	return Identities(getenv)
}
