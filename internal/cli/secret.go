package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/secret"
)

// ramDir is where `secret edit` puts the decrypted view: RAM, never disk.
// Tests point it elsewhere to exercise the refusal.
var ramDir = "/dev/shm"

// maxSecretInput bounds what `secret set` and the vault import read.
const maxSecretInput = 1 << 20

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func secretCmd() *command {
	return &command{
		name:    "secret",
		summary: "encrypted secrets of an environment: list, get, set, edit, rekey, import",
		help: `Secrets live in secrets/<env>.yaml: names in clear, each value encrypted with
age to the environment's recipients, one line per secret (docs/secrets.md).
Secret names start with vault_. The key comes from TEND_AGE_KEY (for CI) or
the key file TEND_AGE_KEY_FILE (default ~/.config/tend/age.key, mode 0600).`,
		subs: []*command{
			secretKeygenCmd(),
			secretListCmd(),
			secretGetCmd(),
			secretSetCmd(),
			secretRmCmd(),
			secretEditCmd(),
			secretRekeyCmd(),
			secretImportCmd(),
		},
	}
}

func repoFlag(fs *flag.FlagSet, repo *string) {
	fs.StringVar(repo, "repo", ".", "the infrastructure repository `DIR`")
}

// loadSecretFile loads the secret file of env in repo.
func loadSecretFile(repo, env string) (*secret.File, error) {
	path, err := secret.Path(repo, env)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	f, err := secret.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.Wrap(err, fmt.Sprintf("create it with 'tend secret set %s vault_NAME --recipient age1...'", env))
	}
	return f, err
}

func secretKeygenCmd() *command {
	var out string
	return &command{
		name:    "keygen",
		summary: "create your age key (mode 0600) and print its public key",
		help: `Writes a new age X25519 identity to --out (default: TEND_AGE_KEY_FILE, else
~/.config/tend/age.key) with mode 0600, and prints the public key (age1...)
on stdout. Give that public key to someone who holds the key of an
environment; they run 'tend secret rekey ENV --add <public key>'.
An existing file is never overwritten.`,
		flags: func(fs *flag.FlagSet) { fs.StringVar(&out, "out", "", "write the key to `FILE`") },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			path := out
			if path == "" {
				var err error
				if path, err = secret.KeyFile(s.getenv); err != nil {
					return err
				}
			}
			pub, err := secret.GenerateKey(path, time.Now())
			if err != nil {
				return err
			}
			s.logf("key written to %s (mode 0600); share only the public key below", path)
			s.printf("%s\n", pub)
			return nil
		},
	}
}

func secretListCmd() *command {
	var repo string
	var asJSON bool
	return &command{
		name:    "list",
		args:    "ENV",
		summary: "list the secret names of an environment (never values)",
		help:    `Prints one name per line; --json adds the file and its recipients. Needs no key.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			if !asJSON {
				for _, n := range f.Names() {
					s.printf("%s\n", n)
				}
				return nil
			}
			type rec struct {
				Key   string `json:"key"`
				Label string `json:"label,omitempty"`
			}
			out := struct {
				Environment string   `json:"environment"`
				File        string   `json:"file"`
				Recipients  []rec    `json:"recipients"`
				Secrets     []string `json:"secrets"`
			}{Environment: f.Env, File: f.Path, Recipients: []rec{}, Secrets: f.Names()}
			for _, r := range f.Recipients {
				out.Recipients = append(out.Recipients, rec{r.Key, r.Label})
			}
			enc := json.NewEncoder(s.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
}

func secretGetCmd() *command {
	var repo string
	return &command{
		name:    "get",
		args:    "ENV NAME",
		summary: "print one secret's value on stdout",
		help: `Prints the value of secret NAME, the one deliberate way a value leaves tend.
A value without a newline is followed by one, so that
'tend secret get A NAME | tend secret set B NAME' copies it unchanged.`,
		flags: func(fs *flag.FlagSet) { repoFlag(fs, &repo) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME"); err != nil {
				return err
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			ids, err := secret.Identities(s.getenv)
			if err != nil {
				return err
			}
			v, err := f.DecryptOne(ids, args[1])
			if err != nil {
				return err
			}
			out := v.Reveal()
			if !strings.Contains(out, "\n") {
				out += "\n"
			}
			_, err = io.WriteString(s.stdout, out)
			return err
		},
	}
}

// readSecretInput reads a value from stdin, refusing a terminal (it would echo
// the value on screen). A single line loses its trailing newline.
func readSecretInput(s *session, what string) (string, error) {
	if f, ok := s.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return "", hint.New("refusing to read "+what+" from a terminal: it would be echoed on screen",
				"pipe it in (tend ... < FILE, or from a password manager), or use 'tend secret edit'")
		}
	}
	data, err := io.ReadAll(io.LimitReader(s.stdin, maxSecretInput+1))
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if len(data) > maxSecretInput {
		return "", fmt.Errorf("%s on stdin is larger than %d bytes", what, maxSecretInput)
	}
	v := string(data)
	if i := strings.IndexByte(v, '\n'); i >= 0 && i == len(v)-1 {
		v = strings.TrimSuffix(v[:i], "\r")
	}
	return v, nil
}

// newOrLoad loads env's secret file, or starts a new one when it does not
// exist and recipients were given.
func newOrLoad(repo, env string, recipients []string) (*secret.File, error) {
	path, err := secret.Path(repo, env)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	f, err := secret.Load(path)
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
	var rs []secret.Recipient
	for _, a := range recipients {
		r, err := secret.ParseRecipient(a)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return secret.New(path, rs)
}

func secretSetCmd() *command {
	var repo string
	var recipients stringList
	return &command{
		name:    "set",
		args:    "ENV NAME",
		summary: "set a secret from stdin (never from the command line)",
		help: `Reads the value of secret NAME from stdin (a single line loses its trailing
newline) and encrypts it to the environment's recipients. Needs no key.
The first secret of a new environment needs --recipient age1... (repeatable,
optionally age1...=LABEL).`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME (the value comes from stdin)"); err != nil {
				return err
			}
			if err := secret.CheckName(args[1]); err != nil {
				return err
			}
			f, err := newOrLoad(repo, args[0], recipients)
			if err != nil {
				return err
			}
			v, err := readSecretInput(s, "the secret value")
			if err != nil {
				return err
			}
			verb := "added"
			if f.Has(args[1]) {
				verb = "changed"
			}
			if err := f.Set(args[1], secret.NewValue(v)); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: %s %s (encrypted to %d recipients)", f.Path, verb, args[1], len(f.Recipients))
			return nil
		},
	}
}

func secretRmCmd() *command {
	var repo string
	return &command{
		name:    "rm",
		args:    "ENV NAME",
		summary: "remove a secret",
		help:    `Removes secret NAME from the environment's file. Needs no key.`,
		flags:   func(fs *flag.FlagSet) { repoFlag(fs, &repo) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV NAME"); err != nil {
				return err
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			if err := f.Remove(args[1]); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: removed %s", f.Path, args[1])
			return nil
		},
	}
}

func secretRekeyCmd() *command {
	var repo string
	var add, remove stringList
	return &command{
		name:    "rekey",
		args:    "ENV",
		summary: "add or remove recipients and re-encrypt every value",
		help: `Opens every value with your key, changes the recipients (--add age1...[=LABEL],
--remove age1..., both repeatable) and encrypts every value again, so a
removed key cannot open the new file. It can still open old versions in git
history: when a key is lost or a person leaves, change the secrets too.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.Var(&add, "add", "public `KEY` (age1...[=LABEL]) to add; repeatable")
			fs.Var(&remove, "remove", "public `KEY` (age1...) to remove; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			if len(add)+len(remove) == 0 {
				return &usageError{msg: "nothing to do: give --add or --remove"}
			}
			var rs []secret.Recipient
			for _, a := range add {
				r, err := secret.ParseRecipient(a)
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			ids, err := secret.Identities(s.getenv)
			if err != nil {
				return err
			}
			if err := f.Rekey(ids, rs, remove); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: %d secrets encrypted again to %d recipients", f.Path, len(f.Secrets), len(f.Recipients))
			mine := secret.PublicKeys(ids)
			if !containsAny(f, mine) {
				s.logf("note: your own key can no longer open %s", f.Path)
			}
			return nil
		},
	}
}

func containsAny(f *secret.File, keys []string) bool {
	for _, k := range keys {
		if f.HasRecipient(k) {
			return true
		}
	}
	return false
}

func secretEditCmd() *command {
	var repo string
	var allowDisk bool
	return &command{
		name:    "edit",
		args:    "ENV",
		summary: "edit an environment's secrets in $EDITOR",
		help: `Decrypts every value into a temporary view in /dev/shm (RAM, mode 0600), opens
$VISUAL or $EDITOR (default vi) on it, and encrypts again only the values
that changed; unchanged lines of the secret file stay byte-identical. The
view is deleted afterwards, also on error. Without /dev/shm tend refuses
unless --allow-disk (then the view is in the temporary directory, on disk).
If the edited view has an error, the secret file is left untouched.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.BoolVar(&allowDisk, "allow-disk", false, "allow the decrypted view on disk when /dev/shm is missing")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			return runSecretEdit(ctx, s, repo, args[0], allowDisk)
		},
	}
}

func runSecretEdit(ctx context.Context, s *session, repo, env string, allowDisk bool) error {
	f, err := loadSecretFile(repo, env)
	if err != nil {
		return err
	}
	before, err := os.ReadFile(f.Path)
	if err != nil {
		return err
	}
	ids, err := secret.Identities(s.getenv)
	if err != nil {
		return err
	}
	old, err := f.Decrypt(ids)
	if err != nil {
		return err
	}
	view, err := secret.RenderView(f.Env, old)
	if err != nil {
		return err
	}
	base := ramDir
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		if !allowDisk {
			return hint.Wrap(fmt.Errorf("%s does not exist: refusing to write decrypted secrets to disk", ramDir),
				"use a machine with /dev/shm, 'tend secret set', or accept a view on disk with --allow-disk")
		}
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "tend-secret-")
	if err != nil {
		return fmt.Errorf("create the edit view: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, f.Env+".yaml")
	if err := os.WriteFile(path, view, 0o600); err != nil {
		return fmt.Errorf("create the edit view: %w", err)
	}
	clear(view)
	if err := runEditor(ctx, s, path); err != nil {
		return err
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the edited view: %w", err)
	}
	os.RemoveAll(dir)
	next, err := secret.ParseView(edited)
	clear(edited)
	if err != nil {
		return hint.Wrap(fmt.Errorf("edited secrets of %s: %w", f.Env, err),
			fmt.Sprintf("%s is unchanged; run 'tend secret edit %s' again", f.Path, f.Env))
	}
	if len(next) == 0 {
		s.logf("%s: the view holds no secret; nothing changed (use 'tend secret rm' to remove secrets)", f.Path)
		return nil
	}
	changes, err := f.Update(old, next)
	if err != nil {
		return err
	}
	if changes.Empty() {
		s.logf("%s: no changes", f.Path)
		return nil
	}
	now, err := os.ReadFile(f.Path)
	if err != nil || !bytes.Equal(now, before) {
		return hint.Wrap(fmt.Errorf("%s changed while you were editing; your edits were not saved", f.Path),
			fmt.Sprintf("run 'tend secret edit %s' again", f.Env))
	}
	if err := f.Save(); err != nil {
		return err
	}
	var parts []string
	for _, c := range []struct {
		verb  string
		names []string
	}{{"added", changes.Added}, {"changed", changes.Changed}, {"removed", changes.Removed}} {
		if len(c.names) > 0 {
			parts = append(parts, c.verb+" "+strings.Join(c.names, ", "))
		}
	}
	s.logf("%s: %s", f.Path, strings.Join(parts, "; "))
	return nil
}

// runEditor runs the user's editor on path through sh, so that EDITOR may
// hold arguments ("code --wait"). The path is its only argument; the age key
// is removed from its environment.
func runEditor(ctx context.Context, s *session, path string) error {
	editor := s.getenv("VISUAL")
	if editor == "" {
		editor = s.getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$@"`, "editor", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, s.stdout, s.stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, secret.EnvKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Run(); err != nil {
		return hint.Wrap(fmt.Errorf("editor %q failed: %v; nothing changed", editor, err),
			"set EDITOR to an editor that exits with status 0 when you save")
	}
	return nil
}

func secretImportCmd() *command {
	var repo, passwordFile string
	var prefix bool
	var recipients stringList
	return &command{
		name:    "import-ansible-vault",
		args:    "ENV FILE",
		summary: "import the secrets of an ansible-vault file",
		help: `Decrypts FILE, an ansible-vault (1.1 or 1.2, AES256) file holding a YAML
mapping of names to values, and adds each value to the environment's secret
file. The vault password comes from --password-file or stdin. Names must
start with vault_, or use --prefix to prepend it. Names already in the
secret file are refused. A new environment needs --recipient age1...`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.StringVar(&passwordFile, "password-file", "", "read the vault password from `FILE`")
			fs.BoolVar(&prefix, "prefix", false, "prepend vault_ to names that lack it")
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "ENV FILE"); err != nil {
				return err
			}
			data, err := os.ReadFile(args[1])
			if err != nil {
				return fmt.Errorf("read ansible-vault file: %w", err)
			}
			var password string
			if passwordFile != "" {
				p, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("read vault password: %w", err)
				}
				password = strings.TrimSpace(string(p)) // as ansible-vault does
				clear(p)
			} else if password, err = readSecretInput(s, "the vault password"); err != nil {
				return err
			}
			plain, err := secret.DecryptAnsibleVault(data, []byte(password))
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			values, err := secret.VaultValues(plain, prefix)
			clear(plain)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			f, err := newOrLoad(repo, args[0], recipients)
			if err != nil {
				return err
			}
			var clash []string
			for _, n := range f.Names() {
				if _, ok := values[n]; ok {
					clash = append(clash, n)
				}
			}
			if len(clash) > 0 {
				return hint.Wrap(fmt.Errorf("%s already holds %s", f.Path, strings.Join(clash, ", ")),
					"remove them first with 'tend secret rm', or change them with 'tend secret edit'")
			}
			for _, n := range sortedNames(values) {
				if err := f.Set(n, values[n]); err != nil {
					return err
				}
			}
			if err := f.Save(); err != nil {
				return err
			}
			s.logf("%s: imported %d secrets from %s", f.Path, len(values), args[1])
			return nil
		},
	}
}

func sortedNames(m map[string]secret.Value) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
