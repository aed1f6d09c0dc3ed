package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Role is a PostgreSQL role with its attributes and, when Password is not
// empty, its password. An empty Password leaves the role's password alone.
type Role struct {
	Name                                   string
	Login, Superuser, CreateDB, CreateRole bool
	Password                               string
}

// NewRole makes a role resource from its spec; name is the role name.
func NewRole(name string, s *spec.PostgresRole) (*Role, error) {
	if err := checkName("role", name); err != nil {
		return nil, err
	}
	return &Role{Name: name, Login: s.Login, Superuser: s.Superuser, CreateDB: s.CreateDB, CreateRole: s.CreateRole, Password: s.Password}, nil
}

type roleState struct {
	Login      bool   `json:"login"`
	Superuser  bool   `json:"superuser"`
	CreateDB   bool   `json:"createdb"`
	CreateRole bool   `json:"createrole"`
	Password   string `json:"password"` // the stored verifier; never shown
}

// Check implements resource.Resource. The password is compared with the
// stored verifier without revealing either; a change shows "(sensitive)".
func (r *Role) Check(ctx context.Context) (*resource.Change, error) {
	var have roleState
	found, err := query(ctx, "postgres", fmt.Sprintf(
		`SELECT json_build_object('login', rolcanlogin, 'superuser', rolsuper, 'createdb', rolcreatedb,
		 'createrole', rolcreaterole, 'password', coalesce(rolpassword, '')) FROM pg_authid WHERE rolname = %s;`,
		literal(r.Name)), &have)
	if errors.Is(err, errNoServer) {
		return r.create(), nil
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return r.create(), nil
	}
	c := &resource.Change{Action: resource.Update}
	c.Add("login", boolStr(have.Login), boolStr(r.Login))
	c.Add("superuser", boolStr(have.Superuser), boolStr(r.Superuser))
	c.Add("createdb", boolStr(have.CreateDB), boolStr(r.CreateDB))
	c.Add("createrole", boolStr(have.CreateRole), boolStr(r.CreateRole))
	if r.Password != "" {
		switch kind, ok := passwordMatches(have.Password, r.Password, r.Name); {
		case kind == kindNone:
			c.Add("password", "", "(sensitive)")
		case !ok:
			c.Add("password", "(sensitive)", "(sensitive value changed)")
		case kind != kindSCRAM:
			c.Add("password", kind+" (sensitive)", kindSCRAM+" (sensitive)")
		}
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

func (r *Role) create() *resource.Change {
	c := &resource.Change{Action: resource.Create}
	c.Add("login", "", boolStr(r.Login))
	c.Add("superuser", "", boolStr(r.Superuser))
	c.Add("createdb", "", boolStr(r.CreateDB))
	c.Add("createrole", "", boolStr(r.CreateRole))
	if r.Password != "" {
		c.Add("password", "", "(sensitive)")
	}
	return c
}

// Apply implements resource.Resource: CREATE ROLE or ALTER ROLE with every
// attribute, and the password as a SCRAM verifier computed here.
func (r *Role) Apply(ctx context.Context, c *resource.Change) error {
	attr := func(on bool, name string) string {
		if on {
			return name
		}
		return "NO" + name
	}
	attrs := []string{attr(r.Login, "LOGIN"), attr(r.Superuser, "SUPERUSER"), attr(r.CreateDB, "CREATEDB"), attr(r.CreateRole, "CREATEROLE")}
	if r.Password != "" && c.Has("password") {
		v, err := scramVerifier(r.Password)
		if err != nil {
			return err
		}
		attrs = append(attrs, "PASSWORD "+literal(v))
	}
	verb := "ALTER"
	if c.Action == resource.Create {
		verb = "CREATE"
	}
	_, err := psql(ctx, "postgres", fmt.Sprintf("%s ROLE %s WITH %s;\n", verb, ident(r.Name), strings.Join(attrs, " ")))
	if err != nil {
		return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), r.Name, err)
	}
	return nil
}
