package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Database is a PostgreSQL database with its owner and encoding. An empty
// Owner leaves an existing database's owner alone (a new one belongs to
// postgres).
type Database struct {
	Name, Owner, Encoding string
}

// NewDatabase makes a database resource from its spec; name is the
// database name.
func NewDatabase(name string, s *spec.PostgresDatabase) (*Database, error) {
	if err := checkName("database", name); err != nil {
		return nil, err
	}
	if s.Owner != "" {
		if err := checkName("owner", s.Owner); err != nil {
			return nil, err
		}
	}
	enc := s.Encoding
	if enc == "" {
		enc = "UTF8"
	}
	return &Database{Name: name, Owner: s.Owner, Encoding: enc}, nil
}

// sameEncoding compares encoding names as PostgreSQL does: case, '-' and
// '_' aside (utf-8, UTF8).
func sameEncoding(a, b string) bool {
	norm := strings.NewReplacer("-", "", "_", "")
	return strings.EqualFold(norm.Replace(a), norm.Replace(b))
}

// Check implements resource.Resource. A database's encoding cannot change
// in place: a difference is an error saying so.
func (d *Database) Check(ctx context.Context) (*resource.Change, error) {
	var have struct {
		Owner    string `json:"owner"`
		Encoding string `json:"encoding"`
	}
	found, err := query(ctx, "postgres", fmt.Sprintf(
		`SELECT json_build_object('owner', pg_get_userbyid(datdba), 'encoding', pg_encoding_to_char(encoding))
		 FROM pg_database WHERE datname = %s;`, literal(d.Name)), &have)
	if err != nil && !errors.Is(err, errNoServer) {
		return nil, err
	}
	if !found {
		c := &resource.Change{Action: resource.Create}
		c.Add("owner", "", d.Owner)
		c.Add("encoding", "", d.Encoding)
		return c, nil
	}
	if !sameEncoding(have.Encoding, d.Encoding) {
		return nil, fmt.Errorf("database %s has encoding %s, not %s: PostgreSQL cannot change a database's encoding; dump it, drop it and let tend create it, then restore", d.Name, have.Encoding, d.Encoding)
	}
	c := &resource.Change{Action: resource.Update}
	if d.Owner != "" {
		c.Add("owner", have.Owner, d.Owner)
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource: CREATE DATABASE from template0 (so
// that any encoding the locale allows works), or ALTER DATABASE OWNER.
func (d *Database) Apply(ctx context.Context, c *resource.Change) error {
	var sql string
	if c.Action == resource.Create {
		sql = "CREATE DATABASE " + ident(d.Name)
		if d.Owner != "" {
			sql += " OWNER " + ident(d.Owner)
		}
		sql += " ENCODING " + literal(d.Encoding) + " TEMPLATE template0;\n"
	} else {
		sql = fmt.Sprintf("ALTER DATABASE %s OWNER TO %s;\n", ident(d.Name), ident(d.Owner))
	}
	if _, err := psql(ctx, "postgres", sql); err != nil {
		return fmt.Errorf("database %s: %w", d.Name, err)
	}
	return nil
}
