package account

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"tend/internal/hint"
	"tend/internal/resource"
)

// UserRemoval removes a user: one tend created is deleted with userdel
// when it leaves the spec; one that existed before tend managed it stays,
// unless the spec says state: absent. The home directory is never
// deleted (it holds the user's files), nor is any group: a group named
// like the user stays too, since it may be one tend manages or one that
// was there before (declare it with state: absent to delete it).
type UserRemoval struct {
	Name string
}

// CheckRemove implements resource.Remover.
func (r *UserRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	db, err := Load()
	if err != nil {
		return nil, err
	}
	u := db.User(r.Name)
	if u == nil {
		return nil, nil
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
	if g := db.GroupByID(u.GID); g != nil && g.Name == u.Name {
		stays = append(stays, fmt.Sprintf("its group %s stays: declare `group: %s` with state: absent to delete it", g.Name, g.Name))
	}
	c.Reason = strings.Join(stays, "; ")
	return c, nil
}

// Remove implements resource.Remover: userdel, without -r. userdel alone
// would also delete the group named like the user when login.defs says
// USERGROUPS_ENAB yes (Debian's default); it then runs in a mount
// namespace of its own where login.defs says no, so that the only change
// is the user's.
func (r *UserRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	db, err := Load()
	if err != nil {
		return err
	}
	u := db.User(r.Name)
	if u == nil {
		return nil
	}
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
				"sh", "-c", `mount --bind "$1" "$2" && exec userdel -- "$3"`, "sh", tmp.Name(), LoginDefs, r.Name}
		}
	}
	if cmd == nil {
		cmd = []string{"userdel", "--", r.Name}
	}
	if _, err := resource.Command(ctx, cmd[0], cmd[1:]...); err != nil {
		return hint.Wrap(fmt.Errorf("delete user %s: %w", r.Name, err),
			fmt.Sprintf("a user that runs processes cannot be deleted: stop what runs as %s (its services, its sessions), then apply again", r.Name))
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
