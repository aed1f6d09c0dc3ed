package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
)

// Prefix starts every secret name: the convention that keeps secrets
// recognisable wherever a name appears.
const Prefix = "vault_"

// ageMagic starts every binary age file, hence every decoded value.
const ageMagic = "age-encryption.org/v1\n"

// File is one environment's secret file, secrets/<env>.yaml: the recipients
// that can open it and, per secret, its name and age ciphertext. A File holds
// no plaintext.
type File struct {
	Path       string      // where it was loaded from or will be saved to
	Env        string      // the environment, from the file name
	Recipients []Recipient // in file order
	Secrets    []Entry     // sorted by name once saved
}

// Recipient is an age X25519 public key that can open a secret file.
type Recipient struct {
	Key   string // age1...
	Label string // free text after '#', e.g. who holds the key
	Line  int    // 0 when not read from a file
}

// Entry is one secret of a File: its name and its value encrypted.
type Entry struct {
	Name       string
	Ciphertext string // base64 (standard, unwrapped) of a binary age file
	Line       int    // 0 when not read from a file
}

// PosError is a problem at a line of a file.
type PosError struct {
	File string
	Line int
	Msg  string
}

func (e *PosError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Path returns the secret file of environment env in the repository at repo.
func Path(repo, env string) (string, error) {
	if err := checkEnv(env); err != nil {
		return "", err
	}
	return filepath.Join(repo, "secrets", env+".yaml"), nil
}

func checkEnv(env string) error {
	ok := env != ""
	for i, c := range env {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid environment name %q: use letters, digits, '-', '_' and '.'", env)
	}
	return nil
}

// CheckName reports whether name is a valid secret name: "vault_" followed by
// letters, digits and underscores.
func CheckName(name string) error {
	if !strings.HasPrefix(name, Prefix) {
		return hint.Wrap(fmt.Errorf("secret name %q does not start with %q", name, Prefix),
			"every secret name starts with vault_, so secrets stay recognisable (docs/secrets.md)")
	}
	if len(name) == len(Prefix) {
		return fmt.Errorf("secret name %q is only the prefix", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("secret name %q: use only letters, digits and underscores", name)
		}
	}
	return nil
}

// ParseRecipient parses an age X25519 public key with an optional label,
// written "age1...=label" on the command line.
func ParseRecipient(s string) (Recipient, error) {
	key, label, _ := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if _, err := age.ParseX25519Recipient(key); err != nil {
		return Recipient{}, hint.Wrap(fmt.Errorf("recipient %q is not an age X25519 public key", key),
			"a public key looks like age1... ('tend secret keygen' prints one)")
	}
	return Recipient{Key: key, Label: strings.TrimSpace(label)}, nil
}

// New returns an empty secret file for environment env at path, to be opened
// by recipients.
func New(path string, recipients []Recipient) (*File, error) {
	env := strings.TrimSuffix(filepath.Base(path), ".yaml")
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%s: a secret file needs at least one recipient", path)
	}
	f := &File{Path: path, Env: env}
	for _, r := range recipients {
		if err := f.addRecipient(r); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *File) addRecipient(r Recipient) error {
	if f.HasRecipient(r.Key) {
		return fmt.Errorf("%s: %s is already a recipient", f.Path, r.Key)
	}
	if _, err := age.ParseX25519Recipient(r.Key); err != nil {
		return fmt.Errorf("%s: recipient %q is not an age X25519 public key", f.Path, r.Key)
	}
	f.Recipients = append(f.Recipients, r)
	return nil
}

// HasRecipient reports whether key is one of f's recipients.
func (f *File) HasRecipient(key string) bool {
	return slices.ContainsFunc(f.Recipients, func(r Recipient) bool { return r.Key == key })
}

// Load reads and parses the secret file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("secret file %s does not exist: %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a secret file's content; path names it in errors and gives the
// environment. All problems are reported, each with file:line. Parse checks
// the structure of every value but decrypts nothing.
//
// The format is a strict subset of YAML, one line per secret, so that review
// and merges work line by line (docs/secrets.md):
//
//	# comment
//	recipients:
//	  - age1...  # label
//	secrets:
//	  vault_name: <base64 of an age file>
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, Env: strings.TrimSuffix(filepath.Base(path), ".yaml")}
	var errs []error
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	cut := len(data) > 0 && data[len(data)-1] != '\n'
	bad := func(line int, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if cut && line == len(lines) {
			msg += "; the file ends there without a newline: it looks truncated"
		}
		errs = append(errs, &PosError{File: path, Line: line, Msg: msg})
	}
	const (
		none = iota
		inRecipients
		inSecrets
	)
	section := none
	seenSection := map[string]int{}
	seenName := map[string]int{}
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		body := strings.TrimLeft(line, " ")
		indent := len(line) - len(body)
		body = strings.TrimRight(body, " ")
		if body == "" || body[0] == '#' {
			continue
		}
		if strings.ContainsRune(line, '\t') {
			bad(n, "tab character: indent with spaces")
			continue
		}
		if indent == 0 {
			key, rest, ok := strings.Cut(body, ":")
			rest = strings.TrimSpace(stripComment(rest))
			switch {
			case !ok:
				bad(n, "expected 'recipients:' or 'secrets:'")
				section = none
				continue
			case key != "recipients" && key != "secrets":
				bad(n, "unknown key %q: a secret file has only 'recipients' and 'secrets'", trunc(key))
				section = none
				continue
			case seenSection[key] != 0:
				bad(n, "%s is listed twice (also line %d)", key, seenSection[key])
			}
			seenSection[key] = n
			empty := map[string]string{"recipients": "[]", "secrets": "{}"}[key]
			switch rest {
			case "":
			case empty:
				section = none
				continue
			default:
				bad(n, "unexpected text after '%s:'", key)
			}
			section = map[string]int{"recipients": inRecipients, "secrets": inSecrets}[key]
			continue
		}
		switch section {
		case none:
			bad(n, "indented line outside 'recipients:' or 'secrets:'")
		case inRecipients:
			item, ok := strings.CutPrefix(body, "- ")
			if !ok {
				bad(n, "expected '- age1...' in the recipients list")
				continue
			}
			key, label, _ := strings.Cut(item, "#")
			r := Recipient{Key: strings.TrimSpace(key), Label: strings.TrimSpace(label), Line: n}
			if _, err := age.ParseX25519Recipient(r.Key); err != nil {
				bad(n, "recipient %q is not an age X25519 public key (age1...)", trunc(r.Key))
				continue
			}
			if j := slices.IndexFunc(f.Recipients, func(o Recipient) bool { return o.Key == r.Key }); j >= 0 {
				bad(n, "recipient %s is listed twice (also line %d)", r.Key, f.Recipients[j].Line)
				continue
			}
			f.Recipients = append(f.Recipients, r)
		case inSecrets:
			name, value, ok := strings.Cut(body, ":")
			name = strings.TrimSpace(name)
			if !ok {
				bad(n, "expected 'vault_name: <encrypted value>'")
				continue
			}
			if err := CheckName(name); err != nil {
				bad(n, "%v", err)
				continue
			}
			if prev := seenName[name]; prev != 0 {
				bad(n, "secret %s is listed twice (also line %d)", name, prev)
				continue
			}
			seenName[name] = n
			if msg := checkCiphertext(strings.TrimSpace(value)); msg != "" {
				bad(n, "value of %s %s", name, msg)
				continue
			}
			f.Secrets = append(f.Secrets, Entry{Name: name, Ciphertext: strings.TrimSpace(value), Line: n})
		}
	}
	if seenSection["recipients"] == 0 {
		errs = append(errs, &PosError{File: path, Msg: "no 'recipients:' list: nobody could open this file"})
	} else if len(f.Recipients) == 0 && len(errs) == 0 {
		bad(seenSection["recipients"], "the recipients list is empty: nobody could open this file")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, hint.Wrap(err, "a secret file is written by 'tend secret'; restore a damaged line from git, or set that secret again")
	}
	return f, nil
}

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(s, "#") {
		return ""
	}
	return s
}

// trunc shortens text quoted from a damaged file in an error message.
func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// checkCiphertext checks the shape of an encoded value: base64 of an age file
// with a complete header and room for a payload. It returns "" or a problem.
func checkCiphertext(v string) string {
	if v == "" {
		return "is empty"
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return "is not valid base64 (damaged line)"
	}
	if !bytes.HasPrefix(raw, []byte(ageMagic)) {
		if len(raw) < len(ageMagic) && bytes.HasPrefix([]byte(ageMagic), raw) {
			return "is truncated"
		}
		return "is not an age ciphertext"
	}
	i := bytes.Index(raw, []byte("\n--- "))
	if i < 0 {
		return "is truncated (incomplete age header)"
	}
	end := bytes.IndexByte(raw[i+1:], '\n')
	// After the header: a 16-byte nonce and at least one 16-byte tag.
	if end < 0 || len(raw)-(i+1+end+1) < 32 {
		return "is truncated (no complete payload)"
	}
	return ""
}

// Names returns the secret names in f, sorted.
func (f *File) Names() []string {
	names := make([]string, len(f.Secrets))
	for i, e := range f.Secrets {
		names[i] = e.Name
	}
	slices.Sort(names)
	return names
}

// Has reports whether f holds a secret called name.
func (f *File) Has(name string) bool { return f.index(name) >= 0 }

func (f *File) index(name string) int {
	return slices.IndexFunc(f.Secrets, func(e Entry) bool { return e.Name == name })
}

// Marshal returns the file in its canonical form: the header comment, the
// recipients in order with their labels, the secrets sorted by name, one line
// each. A secret whose ciphertext did not change keeps a byte-identical line.
// Comments other than the recipients' labels are not kept.
func (f *File) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tend secrets: environment %s; values are age-encrypted (docs/secrets.md)\n", f.Env)
	b.WriteString("recipients:\n")
	for _, r := range f.Recipients {
		fmt.Fprintf(&b, "  - %s", r.Key)
		if r.Label != "" {
			fmt.Fprintf(&b, "  # %s", strings.ReplaceAll(r.Label, "\n", " "))
		}
		b.WriteString("\n")
	}
	if len(f.Secrets) == 0 {
		b.WriteString("secrets: {}\n")
		return b.Bytes()
	}
	b.WriteString("secrets:\n")
	entries := slices.Clone(f.Secrets)
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range entries {
		fmt.Fprintf(&b, "  %s: %s\n", e.Name, e.Ciphertext)
	}
	return b.Bytes()
}

// Save writes f to f.Path atomically (a temporary file in the same directory,
// then rename), creating the secrets directory if needed. An existing file
// keeps its mode; a new one gets 0644, since it holds no plaintext.
func (f *File) Save() error {
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save %s: %w", f.Path, err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(f.Path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	_, err = tmp.Write(f.Marshal())
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", f.Path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return nil
}
