package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tend/internal/hint"
	"tend/internal/resource"
)

// SettingsRemoval removes a postgres_settings resource: its file
// conf.d/tend-LABEL.conf goes (the file is tend's by its name, so it goes
// whoever wrote it first), the server reloads, and every setting falls back
// to what the rest of the configuration says. A setting that needs a
// restart makes Remove restart PostgreSQL only when Restart allows it.
type SettingsRemoval struct {
	Label   string
	Restart bool
}

// NewSettingsRemoval makes the removal of the settings labelled label;
// restart is the spec's restart field.
func NewSettingsRemoval(label, restart string) (*SettingsRemoval, error) {
	r, err := restartAllowed(restart)
	if err != nil {
		return nil, err
	}
	return &SettingsRemoval{Label: label, Restart: r}, nil
}

// CheckRemove implements resource.Remover.
func (r *SettingsRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	s := &Settings{Label: r.Label}
	in, err := s.info(ctx, nil)
	if errors.Is(err, errNoServer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	old, err := os.ReadFile(s.path(in))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	have := parseSettings(string(old))
	names := slices.Sorted(maps.Keys(have))
	if in, err = s.info(ctx, names); err != nil {
		return nil, err
	}
	c := &resource.Change{Action: resource.Delete}
	var restart []string
	for _, k := range names {
		c.Add(k, have[k], "")
		if in.Params[k].Context == "postmaster" {
			restart = append(restart, k)
		}
	}
	if len(c.Fields) == 0 {
		c.Add("file", s.path(in), "")
	}
	switch {
	case len(restart) > 0 && r.Restart:
		c.Add("restart", "", "needed")
	case len(restart) > 0:
		c.Add("restart", "", "pending")
		c.Reason = pendingReason(restart)
	}
	return c, nil
}

// Remove implements resource.Remover: delete the file, check the
// configuration with the server's parser (the file is put back when it
// fails), reload, and restart when allowed and a setting waits for it.
func (r *SettingsRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	s := &Settings{Label: r.Label}
	in, err := s.info(ctx, nil)
	if err != nil {
		return err
	}
	path := s.path(in)
	old, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	names := slices.Sorted(maps.Keys(parseSettings(string(old))))
	if existed {
		if err := os.Remove(path); err != nil {
			return err
		}
		if err := resource.SyncDir(filepath.Dir(path)); err != nil {
			return err
		}
		if err := validate(ctx, in); err != nil {
			meta := resource.Meta{Mode: 0o644, Owner: "postgres", Group: "postgres"}
			return fmt.Errorf("%w (%s was put back)", errors.Join(err, resource.WriteFile(path, old, meta)), path)
		}
	}
	if err := reload(ctx, in.Loaded); err != nil {
		return err
	}
	if in, err = s.info(ctx, names); err != nil {
		return err
	}
	if p := pending(in, names); len(p) > 0 && r.Restart {
		return restart(ctx, in, p)
	}
	return nil
}

// HBARemoval removes a postgres_hba entry from tend's block of
// pg_hba.conf (the block goes with its last entry) and reloads. An entry
// that held another value before tend first changed it (Prior) is put back
// to that value instead, unless the removal is explicit.
type HBARemoval struct {
	Label string
}

// CheckRemove implements resource.Remover.
func (r *HBARemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	path, err := hbaFile(ctx)
	if errors.Is(err, errNoServer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	have, ok := findEntry(string(content), r.Label)
	if prior := how.Prior["entry"]; !how.Created && !how.Explicit && prior != "" {
		if ok && have == prior {
			return nil, nil
		}
		c := &resource.Change{Action: resource.Update, Reason: "back to the entry it was before tend changed it"}
		c.Add("entry", have, prior)
		return c, nil
	}
	if !ok {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("entry", have, "")
	return c, nil
}

// Remove implements resource.Remover: as Apply, the server checks the new
// file and a refused one is put back, then it reloads.
func (r *HBARemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if c.Action == resource.Update {
		line := how.Prior["entry"] + "\t" + hbaTag + r.Label
		return writeHBA(ctx, func(s string) string { return setEntry(s, r.Label, line) })
	}
	return writeHBA(ctx, func(s string) string { return removeEntry(s, r.Label) })
}

// removeEntry returns content without the entry labelled label; a block
// left empty goes, with the blank line setEntry put beside it.
func removeEntry(content, label string) string {
	lines := strings.SplitAfter(content, "\n")
	begin, end := -1, -1
	for i, l := range lines {
		l = strings.TrimRight(l, "\n")
		if l == hbaBegin && begin < 0 {
			begin = i
		}
		if l == hbaEnd && begin >= 0 && end < 0 {
			end = i
		}
	}
	if begin < 0 || end < 0 {
		return content
	}
	for i := begin + 1; i < end; i++ {
		if _, l, ok := strings.Cut(strings.TrimRight(lines[i], "\n"), hbaTag); ok && l == label {
			lines = slices.Delete(lines, i, i+1)
			end--
			break
		}
	}
	if end == begin+1 { // the block is empty
		from, to := begin, end+1
		switch {
		case from > 0 && lines[from-1] == "\n":
			from--
		case to < len(lines) && lines[to] == "\n":
			to++
		}
		lines = slices.Delete(lines, from, to)
	}
	return strings.Join(lines, "")
}

// RoleRemoval drops a postgres_role tend created (or, explicit, any role
// of that name). A role that owns objects or holds privileges is not
// dropped: the removal fails, saying what to do, and changes nothing.
type RoleRemoval struct {
	Name string
}

// CheckRemove implements resource.Remover.
func (r *RoleRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	var have struct {
		Login bool `json:"login"`
		// Dependencies: objects the role owns or has privileges on, per
		// database ("" for the cluster's shared objects).
		Deps map[string]int `json:"deps"`
	}
	found, err := query(ctx, "postgres", fmt.Sprintf(`SELECT json_build_object('login', r.rolcanlogin, 'deps',
		(SELECT coalesce(json_object_agg(db, n), '{}') FROM (
			SELECT coalesce(d.datname, '') AS db, count(*) AS n FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
			WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid AND s.deptype <> 'p' GROUP BY 1) x))
		FROM pg_roles r WHERE r.rolname = %s;`, literal(r.Name)), &have)
	if errors.Is(err, errNoServer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("role %s existed before tend managed it: declare it with state: absent to drop it", r.Name)), nil
	}
	if len(have.Deps) > 0 {
		n, where := 0, []string{}
		for _, db := range slices.Sorted(maps.Keys(have.Deps)) {
			n += have.Deps[db]
			if db == "" {
				db = "(databases and other shared objects)"
			}
			where = append(where, db)
		}
		objects := "objects"
		if n == 1 {
			objects = "object"
		}
		return nil, hint.Wrap(
			fmt.Errorf("role %s owns or has privileges on %d %s (in %s), so it cannot be dropped; nothing was changed", r.Name, n, objects, strings.Join(where, ", ")),
			fmt.Sprintf("hand its objects over (REASSIGN OWNED BY %s TO postgres) or drop them (DROP OWNED BY %s), in each of those databases, then apply again; or keep the role in the spec", ident(r.Name), ident(r.Name)))
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("role", r.Name, "")
	return c, nil
}

// Remove implements resource.Remover: DROP ROLE, which PostgreSQL makes
// atomically and refuses while the role still owns something.
func (r *RoleRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if _, err := psql(ctx, "postgres", "DROP ROLE IF EXISTS "+ident(r.Name)+";\n"); err != nil {
		return hint.Wrap(fmt.Errorf("drop role %s: %w", r.Name, err),
			fmt.Sprintf("REASSIGN OWNED BY %s TO postgres (or DROP OWNED BY %s) in each database, then apply again", ident(r.Name), ident(r.Name)))
	}
	return nil
}

// dataHint is what a database that leaves the spec says.
const dataHint = "a database holds data: declare it with state: absent and delete_data: true to drop it"

// DatabaseRemoval removes a postgres_database. A database holds data: it
// is never dropped because it left the spec, only when the spec says
// state: absent and delete_data: true.
type DatabaseRemoval struct {
	Name string
}

// CheckRemove implements resource.Remover.
func (r *DatabaseRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	var size string
	found, err := query(ctx, "postgres", fmt.Sprintf(
		`SELECT to_json(pg_size_pretty(pg_database_size(datname))) FROM pg_database WHERE datname = %s;`, literal(r.Name)), &size)
	if errors.Is(err, errNoServer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	switch {
	case !how.Explicit:
		return resource.Kept(fmt.Sprintf("database %s is left on the host: %s", r.Name, dataHint)), nil
	case !how.DeleteData:
		return nil, hint.Wrap(fmt.Errorf("database %s holds data: state: absent alone does not drop it", r.Name),
			"add delete_data: true to drop it with its data (back it up first), or remove state: absent to keep it")
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("database", r.Name+" ("+size+")", "")
	return c, nil
}

// Remove implements resource.Remover: DROP DATABASE, ending the sessions
// connected to it (WITH (FORCE)).
func (r *DatabaseRemoval) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if !how.Explicit || !how.DeleteData {
		return fmt.Errorf("database %s: %s", r.Name, dataHint)
	}
	if _, err := psql(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident(r.Name)+" WITH (FORCE);\n"); err != nil {
		return fmt.Errorf("drop database %s: %w", r.Name, err)
	}
	return nil
}
