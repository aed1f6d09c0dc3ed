// Resource kinds of one family: accounts: users, groups, their SSH keys, and
// environment directories.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The kinds of this family.
const (
	KindUser           Kind = "user"
	KindGroup          Kind = "group"
	KindAuthorizedKeys Kind = "authorized_keys"
	KindEnvdir         Kind = "envdir"
)

// User is a system account. Name: the login.
type User struct {
	UID    *int     `yaml:"uid" json:"uid"`
	Group  string   `yaml:"group" json:"group"`   // primary group; default: a group named like the user
	Groups []string `yaml:"groups" json:"groups"` // supplementary groups, exactly these
	Home   string   `yaml:"home" json:"home"`     // default /home/NAME
	Shell  string   `yaml:"shell" json:"shell"`   // default /bin/bash
	System bool     `yaml:"system" json:"system"`
}

func (*User) Kind() Kind { return KindUser }

func (s *User) defaults() { or(&s.Shell, "/bin/bash") }

func (s *User) check(c *checker) {
	c.name(accountRE, "a user name (lowercase letters, digits, '_' and '-')")
	c.account("group", s.Group)
	for _, g := range s.Groups {
		c.account("groups", g)
	}
	if s.Home != "" {
		c.absPath("home", s.Home)
	}
	if s.UID != nil && (*s.UID < 0 || *s.UID > 65534) {
		c.errf("uid", "uid %d is out of range 0-65534", *s.UID)
	}
}

// Group is a system group. Name: the group name.
type Group struct {
	GID    *int `yaml:"gid" json:"gid"`
	System bool `yaml:"system" json:"system"`
}

func (*Group) Kind() Kind { return KindGroup }

func (s *Group) defaults() {}

func (s *Group) check(c *checker) {
	c.name(accountRE, "a group name (lowercase letters, digits, '_' and '-')")
	if s.GID != nil && (*s.GID < 0 || *s.GID > 65534) {
		c.errf("gid", "gid %d is out of range 0-65534", *s.GID)
	}
}

// AuthorizedKeys are SSH public keys allowed to log in as a user. Name: the
// user. With Exclusive, keys not listed are removed.
type AuthorizedKeys struct {
	Keys      []string `yaml:"keys" json:"keys"`
	Exclusive bool     `yaml:"exclusive" json:"exclusive"`
}

func (*AuthorizedKeys) Kind() Kind { return KindAuthorizedKeys }

func (s *AuthorizedKeys) defaults() {}

func (s *AuthorizedKeys) check(c *checker) {
	c.name(accountRE, "the user whose keys these are")
	if !c.has("keys") {
		if !c.lax() {
			c.errf("", "keys is required")
		}
	}
	for i, k := range s.Keys {
		if !c.lit(k) {
			continue
		}
		if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || len(rest) > 0 {
			c.errf(fmt.Sprintf("keys[%d]", i), "key %d is not an SSH public key line (\"[options] ssh-ed25519 AAAA... comment\")", i+1)
		}
	}
}

// Envdir is a directory holding one file per variable (daemontools
// envdir). With Secret, files get mode 0600, otherwise 0644. Name: path.
type Envdir struct {
	Vars   map[string]string `yaml:"vars" json:"vars"`
	Secret bool              `yaml:"secret" json:"secret"`
	Owner  string            `yaml:"owner" json:"owner"`
	Group  string            `yaml:"group" json:"group"`
}

func (*Envdir) Kind() Kind { return KindEnvdir }

func (s *Envdir) defaults() { or(&s.Owner, "root"); or(&s.Group, "root") }

func (s *Envdir) check(c *checker) {
	c.absPath("", c.r.Name)
	if !c.has("vars") {
		if !c.lax() {
			c.errf("", "vars is required")
		}
	}
	for k := range s.Vars {
		if !envKeyRE.MatchString(k) {
			c.errf("vars."+k, "variable name %q must be letters, digits and '_'", k)
		}
	}
	// envdir reads a file's first line, with NUL bytes turned into
	// newlines (tend writes a newline as NUL) and trailing blanks removed:
	// a NUL or a trailing blank would not come back as written.
	for k, v := range s.Vars {
		if !c.lit(v) {
			continue
		}
		switch {
		case strings.ContainsRune(v, 0):
			c.errf("vars."+k, "variable %s holds a NUL byte, which envdir turns into a newline", k)
		case strings.HasSuffix(v, " ") || strings.HasSuffix(v, "\t"):
			c.errf("vars."+k, "variable %s ends with a space or tab, which envdir removes: drop it, or quote it in the program that reads it", k)
		}
	}
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}
