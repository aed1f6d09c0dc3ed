package account

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Files read for accounts. Only the local files are read, not NSS: they
// are what useradd and groupadd manage.
var (
	PasswdFile = "/etc/passwd"
	GroupFile  = "/etc/group"
)

// Passwd is one entry of /etc/passwd.
type Passwd struct {
	Name  string
	UID   int
	GID   int
	Home  string
	Shell string
}

// GroupEntry is one entry of /etc/group.
type GroupEntry struct {
	Name    string
	GID     int
	Members []string
}

// DB is the local account database: /etc/passwd and /etc/group.
type DB struct {
	Users  []Passwd
	Groups []GroupEntry
}

// Load reads the local account database.
func Load() (*DB, error) {
	pw, err := os.ReadFile(PasswdFile)
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	gr, err := os.ReadFile(GroupFile)
	if errors.Is(err, fs.ErrNotExist) {
		gr = nil
	} else if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	users, err := ParsePasswd(pw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PasswdFile, err)
	}
	groups, err := ParseGroup(gr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", GroupFile, err)
	}
	return &DB{Users: users, Groups: groups}, nil
}

// ParsePasswd parses the passwd(5) format. Comment, blank and NIS
// ("+"/"-") lines are skipped.
func ParsePasswd(data []byte) ([]Passwd, error) {
	var out []Passwd
	err := eachLine(data, func(n int, line string) error {
		f := strings.Split(line, ":")
		if len(f) != 7 {
			return fmt.Errorf("line %d: want 7 fields separated by ':', have %d", n, len(f))
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("line %d: uid or gid is not a number", n)
		}
		out = append(out, Passwd{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
		return nil
	})
	return out, err
}

// ParseGroup parses the group(5) format.
func ParseGroup(data []byte) ([]GroupEntry, error) {
	var out []GroupEntry
	err := eachLine(data, func(n int, line string) error {
		f := strings.Split(line, ":")
		if len(f) != 4 {
			return fmt.Errorf("line %d: want 4 fields separated by ':', have %d", n, len(f))
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			return fmt.Errorf("line %d: gid is not a number", n)
		}
		g := GroupEntry{Name: f[0], GID: gid}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.Members = append(g.Members, m)
			}
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func eachLine(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// User returns the user named name, or nil.
func (db *DB) User(name string) *Passwd {
	for i := range db.Users {
		if db.Users[i].Name == name {
			return &db.Users[i]
		}
	}
	return nil
}

// Group returns the group named name, or nil.
func (db *DB) Group(name string) *GroupEntry {
	for i := range db.Groups {
		if db.Groups[i].Name == name {
			return &db.Groups[i]
		}
	}
	return nil
}

// GroupByID returns the first group with gid, or nil.
func (db *DB) GroupByID(gid int) *GroupEntry {
	for i := range db.Groups {
		if db.Groups[i].GID == gid {
			return &db.Groups[i]
		}
	}
	return nil
}

// GroupName returns the name of gid, or the number when no group has it.
func (db *DB) GroupName(gid int) string {
	if g := db.GroupByID(gid); g != nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// MemberOf returns the groups listing user as a member, sorted: the
// user's supplementary groups.
func (db *DB) MemberOf(user string) []string {
	var out []string
	for _, g := range db.Groups {
		if slices.Contains(g.Members, user) {
			out = append(out, g.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// GIDs returns the numeric ids of the groups user is a supplementary
// member of, for switching to that user.
func (db *DB) GIDs(user string) []uint32 {
	var out []uint32
	for _, g := range db.Groups {
		if slices.Contains(g.Members, user) {
			out = append(out, uint32(g.GID))
		}
	}
	return out
}

// LookupUser reads the account database and returns the user named name,
// with an error that says what to do when there is none.
func LookupUser(name string) (*Passwd, *DB, error) {
	db, err := Load()
	if err != nil {
		return nil, nil, err
	}
	u := db.User(name)
	if u == nil {
		return nil, db, fmt.Errorf("user %q does not exist: declare `user: %s` before this resource", name, name)
	}
	return u, db, nil
}
