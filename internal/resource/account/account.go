// Package account implements the user and group resources, and reads the
// local account database (/etc/passwd, /etc/group) for the kinds that act
// as a user.
//
// Check reads the files; Apply runs useradd, usermod, groupadd and
// groupmod, so that the shadow files, home directories and locks are
// handled as the system's own tools do. Removal (remove.go) deletes the
// accounts tend created, never a home directory. A group tend makes with a
// user (named like it) is recorded in /var/lib/tend/accounts, so that it
// goes with the user.
//
// "system" only matters when an account is created (useradd -r, groupadd
// -r: an id from the system range). An existing account is never
// renumbered to satisfy it; declare uid/gid for that.
package account

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// auto is shown for an id the system chooses at creation.
const auto = "(chosen by the system)"

// Group is a local group.
type Group struct {
	Name   string
	GID    *int
	System bool
}

// NewGroup makes a group resource from its spec.
func NewGroup(name string, s *spec.Group) (*Group, error) {
	return &Group{Name: name, GID: s.GID, System: s.System}, nil
}

// Check implements resource.Resource.
func (g *Group) Check(ctx context.Context) (*resource.Change, error) {
	db, err := Load()
	if err != nil {
		return nil, err
	}
	have := db.Group(g.Name)
	if have == nil {
		c := &resource.Change{Action: resource.Create}
		c.Add("gid", "", idString(g.GID))
		if g.System {
			c.Add("system", "", "true")
		}
		return c, nil
	}
	c := &resource.Change{Action: resource.Update}
	if g.GID != nil {
		c.Add("gid", strconv.Itoa(have.GID), strconv.Itoa(*g.GID))
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (g *Group) Apply(ctx context.Context, c *resource.Change) error {
	db, err := Load()
	if err != nil {
		return err
	}
	if g.GID != nil {
		if o := db.GroupByID(*g.GID); o != nil && o.Name != g.Name {
			return fmt.Errorf("gid %d is already taken by group %s: choose another gid, or change %s's first", *g.GID, o.Name, o.Name)
		}
	}
	if db.Group(g.Name) == nil {
		args := []string{}
		if g.System {
			args = append(args, "-r")
		}
		if g.GID != nil {
			args = append(args, "-g", strconv.Itoa(*g.GID))
		}
		_, err := resource.Command(ctx, "groupadd", append(args, g.Name)...)
		return err
	}
	if g.GID != nil && c.Has("gid") {
		_, err := resource.Command(ctx, "groupmod", "-g", strconv.Itoa(*g.GID), g.Name)
		return err
	}
	return nil
}

// User is a local account.
type User struct {
	Name   string
	UID    *int
	Group  string   // primary group
	Groups []string // supplementary groups, sorted, exactly these
	Home   string
	Shell  string
	System bool
	// StateDir is where tend records the groups it made with a user;
	// default DefaultStateDir.
	StateDir string
}

// NewUser makes a user resource from its spec, with the documented
// defaults: primary group named like the user, home /home/NAME, shell
// /bin/bash.
func NewUser(name string, s *spec.User) (*User, error) {
	u := &User{Name: name, UID: s.UID, Group: s.Group, Home: s.Home, Shell: s.Shell, System: s.System, StateDir: DefaultStateDir}
	if u.Group == "" {
		u.Group = name
	}
	if u.Home == "" {
		u.Home = "/home/" + name
	}
	if u.Shell == "" {
		u.Shell = "/bin/bash"
	}
	for _, g := range s.Groups {
		if g == "" {
			return nil, fmt.Errorf("user %s: empty group name in groups", name)
		}
		u.Groups = append(u.Groups, g)
	}
	slices.Sort(u.Groups)
	u.Groups = slices.Compact(u.Groups)
	return u, nil
}

// Check implements resource.Resource. A group the user needs that does not
// exist yet is not an error here: an earlier resource may create it.
func (u *User) Check(ctx context.Context) (*resource.Change, error) {
	db, err := Load()
	if err != nil {
		return nil, err
	}
	have := db.User(u.Name)
	groups := strings.Join(u.Groups, ",")
	if have == nil {
		c := &resource.Change{Action: resource.Create}
		c.Add("uid", "", idString(u.UID))
		c.Add("group", "", u.Group)
		c.Add("groups", "", groups)
		c.Add("home", "", u.Home)
		c.Add("shell", "", u.Shell)
		if u.System {
			c.Add("system", "", "true")
		}
		return c, nil
	}
	c := &resource.Change{Action: resource.Update}
	if u.UID != nil {
		c.Add("uid", strconv.Itoa(have.UID), strconv.Itoa(*u.UID))
	}
	c.Add("group", db.GroupName(have.GID), u.Group)
	c.Add("groups", strings.Join(db.MemberOf(u.Name), ","), groups)
	c.Add("home", have.Home, u.Home)
	c.Add("shell", have.Shell, u.Shell)
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (u *User) Apply(ctx context.Context, c *resource.Change) error {
	db, err := Load()
	if err != nil {
		return err
	}
	if u.UID != nil {
		for _, o := range db.Users {
			if o.UID == *u.UID && o.Name != u.Name {
				return fmt.Errorf("uid %d is already taken by user %s: choose another uid", *u.UID, o.Name)
			}
		}
	}
	var missing []string
	for _, g := range u.Groups {
		if db.Group(g) == nil {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("groups %s do not exist: declare them (`group: NAME`) before user %s", strings.Join(missing, ", "), u.Name)
	}
	primary := db.Group(u.Group)
	if primary == nil && u.Group != u.Name {
		return fmt.Errorf("primary group %q does not exist: declare `group: %s` before user %s", u.Group, u.Group, u.Name)
	}
	have := db.User(u.Name)
	if have == nil {
		args := []string{"-m", "-d", u.Home, "-s", u.Shell}
		if u.System {
			args = append(args, "-r")
		}
		if u.UID != nil {
			args = append(args, "-u", strconv.Itoa(*u.UID))
		}
		if primary == nil {
			args = append(args, "-U") // the group named like the user
			if err := recordOwnGroup(u.StateDir, u.Name); err != nil {
				return err
			}
		} else {
			args = append(args, "-N", "-g", u.Group)
		}
		if len(u.Groups) > 0 {
			args = append(args, "-G", strings.Join(u.Groups, ","))
		}
		_, err := resource.Command(ctx, "useradd", append(args, u.Name)...)
		return err
	}
	if primary == nil { // the user's own group went missing: make it again
		if err := recordOwnGroup(u.StateDir, u.Name); err != nil {
			return err
		}
		args := []string{}
		if u.System {
			args = append(args, "-r")
		}
		if _, err := resource.Command(ctx, "groupadd", append(args, u.Group)...); err != nil {
			return err
		}
	}
	var args []string
	if c.Has("uid") && u.UID != nil {
		args = append(args, "-u", strconv.Itoa(*u.UID))
	}
	if c.Has("group") {
		args = append(args, "-g", u.Group)
	}
	if c.Has("groups") {
		args = append(args, "-G", strings.Join(u.Groups, ","))
	}
	if c.Has("home") {
		args = append(args, "-d", u.Home)
	}
	if c.Has("shell") {
		args = append(args, "-s", u.Shell)
	}
	if len(args) > 0 {
		if _, err := resource.Command(ctx, "usermod", append(args, u.Name)...); err != nil {
			return err
		}
	}
	if c.Has("home") {
		return u.makeHome()
	}
	return nil
}

// makeHome creates a new home directory that does not exist yet, as
// useradd -m would (mode from /etc/login.defs, owned by the user). The old
// home is left as it is: moving a user's files is a decision for a person.
func (u *User) makeHome() error {
	if _, err := os.Lstat(u.Home); err == nil {
		return nil
	}
	b, _ := os.ReadFile(LoginDefs)
	mode := HomeMode(b)
	if err := os.MkdirAll(u.Home, mode); err != nil {
		return fmt.Errorf("create home %s: %w", u.Home, err)
	}
	return resource.SetMeta(u.Home, resource.Meta{Mode: mode, Owner: u.Name, Group: u.Group})
}

// LoginDefs is the file useradd reads its defaults from.
var LoginDefs = "/etc/login.defs"

// HomeMode returns the mode useradd gives a new home directory, given
// login.defs: HOME_MODE, else 0777 without UMASK, else 0755.
func HomeMode(loginDefs []byte) os.FileMode {
	vals := map[string]string{}
	for _, line := range strings.Split(string(loginDefs), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			vals[f[0]] = f[1]
		}
	}
	if m, err := strconv.ParseUint(vals["HOME_MODE"], 8, 32); err == nil && m <= 0o777 {
		return os.FileMode(m)
	}
	if m, err := strconv.ParseUint(vals["UMASK"], 8, 32); err == nil && m <= 0o777 {
		return os.FileMode(0o777 &^ m)
	}
	return 0o755
}

func idString(id *int) string {
	if id == nil {
		return auto
	}
	return strconv.Itoa(*id)
}
