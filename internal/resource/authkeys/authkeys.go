// Package authkeys implements the authorized_keys resource: the SSH public
// keys allowed to log in as a user, in ~USER/.ssh/authorized_keys (the
// directory mode 0700, the file 0600, both owned by the user).
//
// A key is known by its type and key data, not its comment or options: a
// listed key already in the file with other options or another comment is
// rewritten in place to the listed line. Listed keys missing from the file
// are appended in the listed order. With Exclusive, key lines not listed
// are removed. Every other line (comments, blank lines, keys left alone)
// keeps its place.
package authkeys

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tend/internal/resource"
	"tend/internal/resource/account"
	"tend/internal/spec"
)

// Keys is a user's authorized keys.
type Keys struct {
	User      string
	Keys      []string // normalised key lines
	Exclusive bool
	StateDir  string // where the keys tend added are recorded; default DefaultStateDir
}

// New makes an authorized_keys resource from its spec.
func New(user string, s *spec.AuthorizedKeys) (*Keys, error) {
	k := &Keys{User: user, Exclusive: s.Exclusive, StateDir: DefaultStateDir}
	seen := map[string]bool{}
	for i, line := range s.Keys {
		line = strings.TrimSpace(line)
		p, ok := Parse(line)
		if !ok {
			return nil, fmt.Errorf("key %d is not an SSH public key line (\"ssh-ed25519 AAAA... comment\")", i+1)
		}
		if seen[p.ID()] {
			return nil, fmt.Errorf("key %d (%s) is listed twice", i+1, p.Fingerprint())
		}
		seen[p.ID()] = true
		k.Keys = append(k.Keys, line)
	}
	return k, nil
}

// Key is the parsed form of an authorized_keys line.
type Key struct {
	Options string // "" when none
	Type    string // ssh-ed25519, ecdsa-sha2-nistp256, sk-...
	Data    string // base64 key data
	Comment string
}

// ID identifies the key whatever its options and comment.
func (k Key) ID() string { return k.Type + " " + k.Data }

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it,
// with its comment.
func (k Key) Fingerprint() string {
	b, err := base64.StdEncoding.DecodeString(k.Data)
	if err != nil {
		return k.Type + " (invalid key data)"
	}
	sum := sha256.Sum256(b)
	fp := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	if k.Comment != "" {
		fp += " " + k.Comment
	}
	return fp
}

func isKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-") || strings.HasPrefix(s, "sk-")
}

// Parse parses a line of authorized_keys (sshd(8) format: optional options,
// key type, base64 data, optional comment). ok is false for comments, blank
// lines and lines that are not keys.
func Parse(line string) (k Key, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return Key{}, false
	}
	rest := line
	if f, _ := field(rest); !isKeyType(f) {
		// Options come first: a comma-separated list that may hold quoted
		// strings with spaces.
		k.Options, rest = options(rest)
	}
	k.Type, rest = field(rest)
	k.Data, rest = field(rest)
	k.Comment = strings.TrimSpace(rest)
	if !isKeyType(k.Type) || k.Data == "" {
		return Key{}, false
	}
	if _, err := base64.StdEncoding.DecodeString(k.Data); err != nil {
		return Key{}, false
	}
	return k, true
}

// field returns the first space-separated field of s and the rest.
func field(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// options returns the options field, which ends at the first space or tab
// outside double quotes, and the rest.
func options(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted && i+1 < len(s):
			i++
		case c == '"':
			quoted = !quoted
		case (c == ' ' || c == '\t') && !quoted:
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// Merge returns the content of authorized_keys with the keys: lines of
// the same key replaced in place, missing ones appended, and, when
// exclusive, other keys removed. added, updated and removed describe the
// keys by fingerprint.
func Merge(old string, keys []string, exclusive bool) (content string, added, updated, removed []string) {
	want := map[string]string{} // id -> line
	var order []string
	for _, line := range keys {
		k, _ := Parse(line)
		want[k.ID()] = line
		order = append(order, k.ID())
	}
	done := map[string]bool{}
	var out []string
	for _, line := range lines(old) {
		k, ok := Parse(line)
		if !ok {
			out = append(out, line)
			continue
		}
		w, listed := want[k.ID()]
		switch {
		case listed && done[k.ID()]:
			removed = append(removed, k.Fingerprint()+" (duplicate)")
		case listed:
			done[k.ID()] = true
			if line != w {
				wk, _ := Parse(w)
				updated = append(updated, wk.Fingerprint())
			}
			out = append(out, w)
		case exclusive:
			removed = append(removed, k.Fingerprint())
		default:
			out = append(out, line)
		}
	}
	for _, id := range order {
		if !done[id] {
			k, _ := Parse(want[id])
			added = append(added, k.Fingerprint())
			out = append(out, want[id])
		}
	}
	if len(out) == 0 {
		return "", added, updated, removed
	}
	return strings.Join(out, "\n") + "\n", added, updated, removed
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Check implements resource.Resource. A user that does not exist yet is
// reported as keys to create: an earlier resource may create the user.
func (k *Keys) Check(ctx context.Context) (*resource.Change, error) {
	u, db, err := account.LookupUser(k.User)
	if db == nil {
		return nil, err
	}
	if u == nil {
		c := &resource.Change{Action: resource.Create}
		content, added, _, _ := Merge("", k.Keys, k.Exclusive)
		c.Add("keys added", "", strings.Join(added, ", "))
		c.Diff = resource.Diff("~"+k.User+"/.ssh/authorized_keys", "", content)
		return c, nil
	}
	p := paths(u)
	want := metas(u, db)
	c := &resource.Change{Action: resource.Update}

	fi, dirMeta, err := resource.Stat(p.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Action = resource.Create
		resource.CheckMeta(c, resource.Meta{}, want.dir)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory: remove it, sshd reads keys from %s", p.dir, p.file)
	default:
		resource.CheckMeta(c, dirMeta, want.dir)
	}
	for i := range c.Fields {
		c.Fields[i].Name = ".ssh " + c.Fields[i].Name
	}

	old := ""
	fi, fileMeta, err := resource.Stat(p.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Action = resource.Create
		resource.CheckMeta(c, resource.Meta{}, want.file)
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file: remove it and apply again", p.file)
	default:
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, err
		}
		old = string(b)
		resource.CheckMeta(c, fileMeta, want.file)
	}
	content, added, updated, removed := Merge(old, k.Keys, k.Exclusive)
	c.Add("keys added", "", strings.Join(added, ", "))
	c.Add("keys updated", "", strings.Join(updated, ", "))
	c.Add("keys removed", strings.Join(removed, ", "), "")
	if content != old && !c.Has("keys added") && !c.Has("keys updated") && !c.Has("keys removed") {
		c.Add("content", "changed", "normalised")
	}
	c.Diff = resource.Diff(p.file, old, content)
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (k *Keys) Apply(ctx context.Context, c *resource.Change) error {
	u, db, err := account.LookupUser(k.User)
	if err != nil {
		return err
	}
	p := paths(u)
	want := metas(u, db)
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	if err := resource.SetMeta(p.dir, want.dir); err != nil {
		return fmt.Errorf("%s: %w", p.dir, err)
	}
	old, err := os.ReadFile(p.file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	content, _, _, _ := Merge(string(old), k.Keys, k.Exclusive)
	// The keys tend adds are recorded before the file is written, so that
	// a removal finds every key tend may have added.
	if err := recordAdded(k.StateDir, k.User, string(old), content); err != nil {
		return err
	}
	return resource.WriteFile(p.file, []byte(content), want.file)
}

type filePaths struct{ dir, file string }

func paths(u *account.Passwd) filePaths {
	dir := filepath.Join(u.Home, ".ssh")
	return filePaths{dir: dir, file: filepath.Join(dir, "authorized_keys")}
}

type fileMetas struct{ dir, file resource.Meta }

func metas(u *account.Passwd, db *account.DB) fileMetas {
	group := db.GroupName(u.GID)
	return fileMetas{
		dir:  resource.Meta{Mode: 0o700, Owner: u.Name, Group: group},
		file: resource.Meta{Mode: 0o600, Owner: u.Name, Group: group},
	}
}
