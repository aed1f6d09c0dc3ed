// Resource kinds of one family: PostgreSQL: server settings, pg_hba.conf
// entries, roles and databases.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"regexp"
)

// The kinds of this family.
const (
	KindPostgresSettings Kind = "postgres_settings"
	KindPostgresHBA      Kind = "postgres_hba"
	KindPostgresRole     Kind = "postgres_role"
	KindPostgresDatabase Kind = "postgres_database"
)

var (
	pgNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	pgParamRE = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)
)

// PostgresSettings are server settings (postgresql.conf parameters) in a
// file included by the server's configuration. Name: a label.
type PostgresSettings struct {
	Settings map[string]string `yaml:"settings" json:"settings"`
	Restart  string            `yaml:"restart" json:"restart"`
}

func (*PostgresSettings) Kind() Kind { return KindPostgresSettings }

func (s *PostgresSettings) defaults() {}

func (s *PostgresSettings) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	if len(s.Settings) == 0 {
		if !c.lax() {
			c.errf("", "settings is required")
		}
	}
	for k := range s.Settings {
		if !pgParamRE.MatchString(k) {
			c.errf("settings."+k, "setting name %q is not a PostgreSQL parameter name", k)
		}
	}
	for k, v := range s.Settings {
		c.line("settings."+k, v)
	}
}

// PostgresHBA is one pg_hba.conf entry. Name: a label.
type PostgresHBA struct {
	Type     string `yaml:"type" json:"type"` // local, host, hostssl or hostnossl; default host
	Database string `yaml:"database" json:"database"`
	User     string `yaml:"user" json:"user"`
	Address  string `yaml:"address" json:"address"` // required except for local
	Method   string `yaml:"method" json:"method"`
}

func (*PostgresHBA) Kind() Kind { return KindPostgresHBA }

func (s *PostgresHBA) defaults() { or(&s.Type, "host") }

func (s *PostgresHBA) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	// Every field goes into the entry's line of pg_hba.conf.
	if !c.lines([2]string{"type", s.Type}, [2]string{"database", s.Database}, [2]string{"user", s.User}, [2]string{"address", s.Address}, [2]string{"method", s.Method}) {
		return
	}
	c.oneOf("type", s.Type, "local", "host", "hostssl", "hostnossl")
	for _, f := range []struct{ name, v string }{{"database", s.Database}, {"user", s.User}} {
		if c.required(f.name, f.v) && c.lit(f.v) {
			if err := parseHBAList(f.v); err != nil {
				c.errf(f.name, "%s %v", f.name, err)
			}
		}
	}
	if c.required("method", s.Method) {
		c.oneOf("method", s.Method, "trust", "reject", "scram-sha-256", "md5", "password", "peer", "ident", "cert")
	}
	if s.Type == "local" && s.Address != "" {
		c.errf("address", "a local entry has no address")
	}
	if s.Type != "local" && c.lit(s.Type) && c.required("address", s.Address) && c.lit(s.Address) {
		if err := parseHBAAddress(s.Address); err != nil {
			c.errf("address", "address %v", err)
		}
	}
}

// PostgresRole is a database role. Name: the role name. Password usually
// comes from a secret variable: password: "{{.db_password}}".
type PostgresRole struct {
	Login      bool   `yaml:"login" json:"login"`
	Password   string `yaml:"password" json:"password"`
	Superuser  bool   `yaml:"superuser" json:"superuser"`
	CreateDB   bool   `yaml:"createdb" json:"createdb"`
	CreateRole bool   `yaml:"createrole" json:"createrole"`
}

func (*PostgresRole) Kind() Kind { return KindPostgresRole }

func (s *PostgresRole) defaults() {}

func (s *PostgresRole) check(c *checker) { c.name(pgNameRE, "a lowercase PostgreSQL identifier") }

// PostgresDatabase is a database. Name: the database name.
type PostgresDatabase struct {
	Owner    string `yaml:"owner" json:"owner"`
	Encoding string `yaml:"encoding" json:"encoding"` // default UTF8
}

func (*PostgresDatabase) Kind() Kind { return KindPostgresDatabase }

// holdsData: dropping a database deletes its data (delete_data).
func (*PostgresDatabase) holdsData() {}

func (s *PostgresDatabase) defaults() { or(&s.Encoding, "UTF8") }

func (s *PostgresDatabase) check(c *checker) {
	c.name(pgNameRE, "a lowercase PostgreSQL identifier")
	if s.Owner != "" && c.lit(s.Owner) && !pgNameRE.MatchString(s.Owner) {
		c.errf("owner", "owner %q is not a lowercase PostgreSQL identifier", s.Owner)
	}
}
