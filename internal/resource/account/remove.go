package account

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"tend/internal/hint"
	"tend/internal/resource"
)

// DefaultStateDir is where tend records the groups it made with a user:
// a file per user, own-group/USER.
const DefaultStateDir = "/var/lib/tend/accounts"

func ownGroupPath(dir, user string) string { return filepath.Join(dir, "own-group", user) }

// recordOwnGroup records that tend makes user's group, named like it; it
// is called before the group is made.
func recordOwnGroup(dir, user string) error {
	if err := os.MkdirAll(filepath.Join(dir, "own-group"), 0o700); err != nil {
		return fmt.Errorf("record the group made with user %s: %w", user, err)
	}
	if err := resource.WriteFile(ownGroupPath(dir, user), []byte(user+"\n"), resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}); err != nil {
		return fmt.Errorf("record the group made with user %s: %w", user, err)
	}
	return nil
}

// UserRemoval removes a user: one tend created is deleted with userdel
// when it leaves the spec; one that existed before tend managed it stays,
// unless the spec says state: absent. The home directory is never
// deleted (it holds the user's files). The group named like the user goes
// with it only when tend made it with the user (useradd -U, recorded),
// no one else is in it and no other user has it as primary group; any
// other group stays, since it may be one tend manages or one that was
// there before (declare it with state: absent to delete it).
type UserRemoval struct {
	Name     string
	StateDir string // default DefaultStateDir
}

// NewUserRemoval makes the removal of user name.
func NewUserRemoval(name string) *UserRemoval {
	return &UserRemoval{Name: name, StateDir: DefaultStateDir}
}

// ownGroup returns the group tend made with the user, when it may go with
// it (no members, no other user's primary group), else nil and, when there
// is such a group, why it stays.
func (r *UserRemoval) ownGroup(db *DB, how resource.Removal) (*GroupEntry, string, error) {
	g := db.Group(r.Name)
	if g == nil {
		return nil, "", nil
	}
	_, err := os.Stat(ownGroupPath(r.StateDir, r.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Sprintf("its group %s stays: declare `group: %s` with state: absent to delete it", g.Name, g.Name), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("record of the group made with user %s: %w", r.Name, err)
	}
	if len(g.Members) > 0 {
		return nil, fmt.Sprintf("its group %s stays, as it has members (%s)", g.Name, strings.Join(g.Members, ",")), nil
	}
	for _, o := range db.Users {
		if o.GID == g.GID && o.Name != r.Name && !how.Going[o.Name] {
			return nil, fmt.Sprintf("its group %s stays, as it is the primary group of %s", g.Name, o.Name), nil
		}
	}
	return g, "", nil
}

// CheckRemove implements resource.Remover.
func (r *UserRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	db, err := Load()
	if err != nil {
		return nil, err
	}
	u := db.User(r.Name)
	if u == nil {
		// A removal cut short between the user and its group: finish it.
		g, _, err := r.ownGroup(db, how)
		if g == nil || err != nil {
			return nil, err
		}
		c := &resource.Change{Action: resource.Delete}
		c.Add("own group", g.Name, "")
		return c, nil
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("user %s existed before tend managed it: it stays as it is; declare it with state: absent to delete it", r.Name)), nil
	}
	if u.UID == 0 {
		return nil, fmt.Errorf("user %s has uid 0: tend does not delete a superuser; take it out of the spec instead", r.Name)
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("uid", strconv.Itoa(u.UID), "")
	c.Add("group", db.GroupName(u.GID), "")
	c.Add("groups", strings.Join(db.MemberOf(u.Name), ","), "")
	var stays []string
	if fi, err := os.Stat(u.Home); err == nil && fi.IsDir() {
		stays = append(stays, fmt.Sprintf("its home %s stays, with its files: delete it by hand (or declare `absent: %s`) once they are not needed", u.Home, u.Home))
	}
	g, why, err := r.ownGroup(db, how)
	if err != nil {
		return nil, err
	}
	if g != nil {
		c.Add("own group", g.Name, "")
	} else if why != "" {
		stays = append(stays, why)
	}
	c.Reason = strings.Join(stays, "; ")
	return c, nil
}

// Remove implements resource.Remover: userdel, without -r, then groupdel
// of the group tend made with the user, then the record of that group.
// userdel alone would also delete the group named like the user whenever
// login.defs says USERGROUPS_ENAB yes (Debian's default), even one tend
// did not make: it runs in a mount namespace of its own where login.defs
// says no, and tend decides.
func (r *UserRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	db, err := Load()
	if err != nil {
		return err
	}
	g, _, err := r.ownGroup(db, how)
	if err != nil {
		return err
	}
	if u := db.User(r.Name); u != nil {
		if err := userdel(ctx, db, u); err != nil {
			return err
		}
	}
	if g != nil {
		if _, err := resource.Command(ctx, "groupdel", "--", g.Name); err != nil {
			return fmt.Errorf("delete group %s, made with user %s: %w", g.Name, r.Name, err)
		}
	}
	if err := os.Remove(ownGroupPath(r.StateDir, r.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("record of the group made with user %s: %w", r.Name, err)
	}
	return nil
}

// userdel deletes user u, and no group.
func userdel(ctx context.Context, db *DB, u *Passwd) error {
	var cmd []string
	if g := db.GroupByID(u.GID); g != nil && g.Name == u.Name {
		defs, err := os.ReadFile(LoginDefs)
		if err == nil && userGroups(defs) {
			tmp, err := os.CreateTemp("", "tend-login.defs.*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			_, err = tmp.Write(withoutUserGroups(defs))
			if err = errors.Join(err, tmp.Close()); err != nil {
				return fmt.Errorf("prepare userdel: %w", err)
			}
			cmd = []string{"unshare", "--mount", "--propagation", "private", "--",
				"sh", "-c", `mount --bind "$1" "$2" && exec userdel -- "$3"`, "sh", tmp.Name(), LoginDefs, u.Name}
		}
	}
	if cmd == nil {
		cmd = []string{"userdel", "--", u.Name}
	}
	if _, err := resource.Command(ctx, cmd[0], cmd[1:]...); err != nil {
		return hint.Wrap(fmt.Errorf("delete user %s: %w", u.Name, err),
			fmt.Sprintf("a user that runs processes cannot be deleted: stop what runs as %s (its services, its sessions), then apply again", u.Name))
	}
	return nil
}

var userGroupsRE = regexp.MustCompile(`(?m)^[ \t]*USERGROUPS_ENAB[ \t]+(\S+)`)

// userGroups reports whether login.defs makes userdel delete a user's
// group (USERGROUPS_ENAB yes; the last setting wins).
func userGroups(defs []byte) bool {
	m := userGroupsRE.FindAllSubmatch(defs, -1)
	return len(m) > 0 && strings.EqualFold(string(m[len(m)-1][1]), "yes")
}

// withoutUserGroups returns login.defs with USERGROUPS_ENAB no.
func withoutUserGroups(defs []byte) []byte {
	out := userGroupsRE.ReplaceAll(defs, []byte("USERGROUPS_ENAB no"))
	return append(out, []byte("\nUSERGROUPS_ENAB no\n")...)
}

// GroupRemoval removes a group: one tend created is deleted with groupdel
// when it leaves the spec; one that existed before tend managed it stays,
// unless the spec says state: absent. A group that is still some user's
// primary group is never deleted.
type GroupRemoval struct {
	Name string
}

// CheckRemove implements resource.Remover.
func (r *GroupRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	db, err := Load()
	if err != nil {
		return nil, err
	}
	g := db.Group(r.Name)
	if g == nil {
		return nil, nil
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("group %s existed before tend managed it: it stays as it is; declare it with state: absent to delete it", r.Name)), nil
	}
	var users []string
	for _, u := range db.Users {
		if u.GID == g.GID && !how.Going[u.Name] { // a user this run deletes first does not count
			users = append(users, u.Name)
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		return nil, hint.Wrap(
			fmt.Errorf("group %s is the primary group of %s, so it cannot be deleted; nothing was changed", r.Name, strings.Join(users, ", ")),
			"give them another primary group (the user's `group:` field) or remove them, then apply again; or keep the group in the spec")
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("gid", strconv.Itoa(g.GID), "")
	c.Add("members", strings.Join(g.Members, ","), "")
	return c, nil
}

// Remove implements resource.Remover: groupdel, which also refuses to
// delete a primary group.
func (r *GroupRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	db, err := Load()
	if err != nil {
		return err
	}
	if db.Group(r.Name) == nil {
		return nil
	}
	if _, err := resource.Command(ctx, "groupdel", "--", r.Name); err != nil {
		return fmt.Errorf("delete group %s: %w", r.Name, err)
	}
	return nil
}
