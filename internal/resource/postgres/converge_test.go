package postgres_test

import (
	"encoding/json"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

const weird = `we"ird role` // a name that needs quoting

// sql runs a query on the lab host as postgres, through nsenter (not
// through tend), and returns its unaligned output.
func sql(t *testing.T, l *labtest.Lab, q string) string {
	t.Helper()
	out, err := l.Enter(t, "host1", "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", "postgres", "-c", q)
	if err != nil {
		t.Fatalf("psql %q: %v: %s", q, err, out)
	}
	return strings.TrimSpace(out)
}

// login reports whether user can log in to db over TCP with password
// (pg_hba: host all all 127.0.0.1/32 scram-sha-256).
func login(t *testing.T, l *labtest.Lab, user, db, password string) bool {
	t.Helper()
	out, err := l.Enter(t, "host1", "env", "PGPASSWORD="+password, "psql", "-X", "-At", "-h", "127.0.0.1", "-U", user, "-d", db, "-c", "SELECT current_user")
	return err == nil && strings.TrimSpace(out) == user
}

func role(name string, s spec.PostgresRole) wire.Item {
	it := resourcetest.Item(spec.KindPostgresRole, name, s)
	it.Sensitive = s.Password != ""
	return it
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				role("app", spec.PostgresRole{Login: true, CreateDB: true, Password: "first-secret"}),
				role(weird, spec.PostgresRole{}),
				item(spec.KindPostgresDatabase, "app", spec.PostgresDatabase{Owner: "app", Encoding: "UTF8"}),
				item(spec.KindPostgresDatabase, "it's db", spec.PostgresDatabase{Owner: weird, Encoding: "sql-ascii"}),
				item(spec.KindPostgresHBA, "app-net", spec.PostgresHBA{Type: "host", Database: "app", User: "app", Address: "10.0.0.0/8", Method: "scram-sha-256"}),
				item(spec.KindPostgresSettings, "main", spec.PostgresSettings{Settings: map[string]string{"work_mem": "8MB", "log_min_duration_statement": "250ms"}}),
			},
			Check: func(t *testing.T) {
				if got := sql(t, l, `SELECT rolname, rolcanlogin, rolsuper, rolcreatedb FROM pg_roles WHERE rolname IN ('app', 'we"ird role') ORDER BY 1`); got != "app|t|f|t\nwe\"ird role|f|f|f" {
					t.Errorf("roles:\n%s", got)
				}
				if !login(t, l, "app", "app", "first-secret") {
					t.Errorf("app cannot log in with its password")
				}
				if got := sql(t, l, `SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database WHERE datname IN ('app', 'it''s db') ORDER BY 1`); got != "app|app|UTF8\nit's db|we\"ird role|SQL_ASCII" {
					t.Errorf("databases:\n%s", got)
				}
				if got := sql(t, l, `SELECT type, database, user_name, address, netmask, auth_method FROM pg_hba_file_rules WHERE 'app' = ANY(database)`); got != "host|{app}|{app}|10.0.0.0|255.0.0.0|scram-sha-256" {
					t.Errorf("hba rules: %q", got)
				}
				if got := sql(t, l, "SELECT current_setting('work_mem') || ' ' || current_setting('log_min_duration_statement')"); got != "8MB 250ms" {
					t.Errorf("settings: %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "change password, attributes, owner, entry; a setting that needs a restart",
			Resources: []wire.Item{
				role("app", spec.PostgresRole{Login: true, Password: "second-secret"}),
				role(weird, spec.PostgresRole{Login: true, CreateRole: true}),
				item(spec.KindPostgresDatabase, "app", spec.PostgresDatabase{Owner: weird}),
				item(spec.KindPostgresHBA, "app-net", spec.PostgresHBA{Type: "host", Database: "app", User: "app", Address: "10.1.0.0/16", Method: "md5"}),
				item(spec.KindPostgresSettings, "main", spec.PostgresSettings{Settings: map[string]string{"work_mem": "16MB", "shared_buffers": "64MB"}, Restart: "allowed"}),
			},
			Check: func(t *testing.T) {
				if got := sql(t, l, `SELECT rolname, rolcanlogin, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname IN ('app', 'we"ird role') ORDER BY 1`); got != "app|t|f|f\nwe\"ird role|t|f|t" {
					t.Errorf("roles:\n%s", got)
				}
				if login(t, l, "app", "app", "first-secret") || !login(t, l, "app", "app", "second-secret") {
					t.Errorf("app's password did not change")
				}
				if got := sql(t, l, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'`); got != weird {
					t.Errorf("owner of app: %q", got)
				}
				if got := sql(t, l, `SELECT address, netmask, auth_method FROM pg_hba_file_rules WHERE 'app' = ANY(database)`); got != "10.1.0.0|255.255.0.0|md5" {
					t.Errorf("hba rules: %q", got)
				}
				// shared_buffers only changes with a restart: tend did it.
				if got := sql(t, l, "SELECT current_setting('work_mem') || ' ' || current_setting('log_min_duration_statement') || ' ' || current_setting('shared_buffers')"); got != "16MB -1 64MB" {
					t.Errorf("settings: %q", got)
				}
			},
		},
	)
}

// TestDrift: changes made behind tend's back show in a plan, without the
// secret, and apply repairs them.
func TestDrift(t *testing.T) {
	l := labtest.New(t, 1)
	d := &wire.Desired{Resources: []wire.Item{
		role("app", spec.PostgresRole{Login: true, Password: "the-secret-canary"}),
		resourcetest.Item(spec.KindPostgresHBA, "app", spec.PostgresHBA{Type: "local", Database: "app", User: "app", Method: "scram-sha-256"}),
	}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
	}
	sql(t, l, "ALTER ROLE app PASSWORD 'other-canary' NOLOGIN")
	l.Run(t, "host1", `sed -i 's/^local\tapp\tapp\tscram-sha-256/local\tapp\tapp\ttrust/' /etc/postgresql/15/main/pg_hba.conf`)
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil {
		t.Fatalf("plan: %v", r.Err)
	}
	want := "postgres_role:app: update login false -> true, password (sensitive) -> (sensitive value changed)\n" +
		"postgres_hba:app: update entry local\tapp\tapp\ttrust -> local\tapp\tapp\tscram-sha-256\n"
	if got := resourcetest.Describe(r); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := json.Marshal(r); strings.Contains(string(b), "canary") || strings.Contains(string(b), "SCRAM") {
		t.Errorf("a secret reached the control machine: %s", b)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil || r.Changed != 2 {
		t.Fatalf("apply: %d changes, %v\n%s", r.Changed, r.Err, resourcetest.Describe(r))
	}
	if !login(t, l, "app", "postgres", "the-secret-canary") {
		t.Errorf("the password was not repaired")
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, d); r.Err != nil || r.Changed != 0 {
		t.Errorf("plan after apply: %d changes, %v\n%s", r.Changed, r.Err, resourcetest.Describe(r))
	}
}

// TestPlanAndErrors: a plan announces a restart and changes nothing; what
// the server refuses is an error that says why, and leaves the server's
// files as they were.
func TestPlanAndErrors(t *testing.T) {
	l := labtest.New(t, 1)
	run := func(t *testing.T, mode wire.Mode, it wire.Item) string {
		t.Helper()
		r := resourcetest.Run(t, l, "host1", mode, &wire.Desired{Resources: []wire.Item{it}})
		if r.Err == nil {
			t.Fatalf("%s succeeded:\n%s", mode, resourcetest.Describe(r))
		}
		return resourcetest.Describe(r)
	}
	t.Run("a plan announces a restart", func(t *testing.T) {
		it := resourcetest.Item(spec.KindPostgresSettings, "main", spec.PostgresSettings{Settings: map[string]string{"shared_buffers": "64MB"}, Restart: "allowed"})
		r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{it}})
		if got, want := resourcetest.Describe(r), "postgres_settings:main: create shared_buffers (none) -> 64MB, restart (none) -> needed\n"; got != want {
			t.Errorf("plan: %q, want %q", got, want)
		}
		if out, err := l.Enter(t, "host1", "ls", "/etc/postgresql/15/main/conf.d/"); err != nil || out != "" {
			t.Errorf("conf.d holds %q (%v)", out, err)
		}
	})
	t.Run("invalid setting value", func(t *testing.T) {
		it := resourcetest.Item(spec.KindPostgresSettings, "bad", spec.PostgresSettings{Settings: map[string]string{"work_mem": "lots"}})
		got := run(t, wire.Apply, it)
		if !strings.Contains(got, `invalid value for parameter "work_mem": "lots"`) || !strings.Contains(got, "put back as it was") {
			t.Errorf("error: %s", got)
		}
		if out, err := l.Enter(t, "host1", "ls", "/etc/postgresql/15/main/conf.d/"); err != nil || out != "" {
			t.Errorf("conf.d holds %q (%v)", out, err)
		}
	})
	t.Run("unknown setting", func(t *testing.T) {
		it := resourcetest.Item(spec.KindPostgresSettings, "bad", spec.PostgresSettings{Settings: map[string]string{"work_meme": "1MB"}})
		if got := run(t, wire.Plan, it); !strings.Contains(got, `"work_meme" is not a setting of this PostgreSQL server`) {
			t.Errorf("error: %s", got)
		}
	})
	t.Run("setting overridden by ALTER SYSTEM", func(t *testing.T) {
		sql(t, l, "ALTER SYSTEM SET work_mem = '2MB'")
		defer sql(t, l, "ALTER SYSTEM RESET work_mem")
		it := resourcetest.Item(spec.KindPostgresSettings, "main", spec.PostgresSettings{Settings: map[string]string{"work_mem": "4MB"}})
		if got := run(t, wire.Apply, it); !strings.Contains(got, "setting work_mem is overridden by /var/lib/postgresql/15/main/postgresql.auto.conf line 3") ||
			!strings.Contains(got, "ALTER SYSTEM RESET work_mem") {
			t.Errorf("error: %s", got)
		}
	})
	t.Run("hba entry the server refuses", func(t *testing.T) {
		before := l.Run(t, "host1", "cat /etc/postgresql/15/main/pg_hba.conf")
		it := resourcetest.Item(spec.KindPostgresHBA, "bad", spec.PostgresHBA{Type: "host", Database: "all", User: "all", Address: "10.0.0.0/99", Method: "md5"})
		if got := run(t, wire.Apply, it); !strings.Contains(got, `invalid CIDR mask in address "10.0.0.0/99"`) {
			t.Errorf("error: %s", got)
		}
		if after := l.Run(t, "host1", "cat /etc/postgresql/15/main/pg_hba.conf"); after != before {
			t.Errorf("pg_hba.conf changed:\n%s", after)
		}
	})
	t.Run("encoding cannot change", func(t *testing.T) {
		sql(t, l, "CREATE DATABASE legacy ENCODING 'SQL_ASCII' TEMPLATE template0")
		it := resourcetest.Item(spec.KindPostgresDatabase, "legacy", spec.PostgresDatabase{Encoding: "UTF8"})
		if got := run(t, wire.Plan, it); !strings.Contains(got, "database legacy has encoding SQL_ASCII, not UTF8: PostgreSQL cannot change a database's encoding") {
			t.Errorf("error: %s", got)
		}
	})
}
