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

const hbaPath = "/etc/postgresql/15/main/pg_hba.conf"

// pendingRestart asks the host's agent for its status (what tend status
// shows) and returns the settings waiting for a restart.
func pendingRestart(t *testing.T, l *labtest.Lab) string {
	t.Helper()
	out := l.Run(t, "host1", "/var/lib/tend/agent/tend-* agent status")
	var hs wire.HostStatus
	if err := json.Unmarshal([]byte(out), &hs); err != nil {
		t.Fatalf("agent status: %v: %s", err, out)
	}
	if hs.PostgresError != "" {
		t.Fatalf("agent status: %s", hs.PostgresError)
	}
	return strings.Join(hs.PendingRestart, ",")
}

// sqlIn is sql on database db.
func sqlIn(t *testing.T, l *labtest.Lab, db, q string) string {
	t.Helper()
	out, err := l.Enter(t, "host1", "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", q)
	if err != nil {
		t.Fatalf("psql -d %s %q: %v: %s", db, q, err, out)
	}
	return strings.TrimSpace(out)
}

// settled asserts that a plan of d would change and remove nothing.
func settled(t *testing.T, l *labtest.Lab, d *wire.Desired) {
	t.Helper()
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil || r.Changed != 0 || r.Removed != 0 {
		t.Errorf("plan: %d changes, %d removals, err %v; want none:\n%s", r.Changed, r.Removed, r.Err, resourcetest.Describe(r))
	}
}

func absent(it wire.Item, deleteData bool) wire.Item {
	it.State, it.DeleteData = wire.Absent, deleteData
	return it
}

// TestLifecycle, on one lab host with PostgreSQL 15: what leaves the spec
// is removed (or kept, saying why); a setting that needs a restart waits
// for one unless the spec allows it; non-ASCII passwords are prepared as
// PostgreSQL prepares them.
func TestLifecycle(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	t.Run("removal", func(t *testing.T) {
		// An entry in tend's block before tend managed it (a record that
		// was lost): tend changes it, and puts it back when it leaves.
		l.Run(t, "host1", `awk '{print} /^local +all +postgres +peer/ {print "\n# BEGIN tend: entries managed by tend (edit the repository, not these lines)\nlocal\tpre\tpre\tpeer\t# tend:pre\n# END tend"}' `+hbaPath+` > /tmp/hba && cat /tmp/hba > `+hbaPath)
		sql(t, l, "SELECT pg_reload_conf()")
		hbaBefore := l.Run(t, "host1", "cat "+hbaPath)
		if !strings.Contains(hbaBefore, "local\tpre\tpre\tpeer\t# tend:pre\n") {
			t.Fatalf("pg_hba.conf:\n%s", hbaBefore)
		}
		sql(t, l, "CREATE ROLE legacy NOLOGIN")
		settings := item(spec.KindPostgresSettings, "main", spec.PostgresSettings{
			Settings: map[string]string{"work_mem": "8MB", "shared_buffers": "64MB"}, Restart: "allowed"})
		keep := item(spec.KindPostgresDatabase, "keep", spec.PostgresDatabase{Owner: "owner"})
		gone := item(spec.KindPostgresDatabase, "gone", spec.PostgresDatabase{})
		owner := role("owner", spec.PostgresRole{})
		busy := role("busy", spec.PostgresRole{})
		declared := []wire.Item{
			role("app", spec.PostgresRole{Login: true, Password: "first-secret"}),
			role("legacy", spec.PostgresRole{Login: true}),
			owner, busy, keep, gone,
			item(spec.KindPostgresHBA, "app-net", spec.PostgresHBA{Type: "host", Database: "keep", User: "app", Address: "10.0.0.0/8", Method: "scram-sha-256"}),
			item(spec.KindPostgresHBA, "pre", spec.PostgresHBA{Type: "local", Database: "pre", User: "pre", Method: "md5"}),
			settings,
		}
		dropped := []wire.Item{owner, busy, absent(gone, true)}
		resourcetest.Converge(t, l, "host1",
			resourcetest.State{Name: "declare", Resources: declared, Check: func(t *testing.T) {
				sqlIn(t, l, "keep", "CREATE TABLE rows AS SELECT generate_series(1, 100) AS n; CREATE TABLE busy_t (); ALTER TABLE busy_t OWNER TO busy")
				if got := sql(t, l, "SELECT current_setting('work_mem') || ' ' || current_setting('shared_buffers')"); got != "8MB 64MB" {
					t.Errorf("settings: %q", got)
				}
			}},
			resourcetest.State{Name: "drop from the spec", Resources: dropped, Check: func(t *testing.T) {
				settled(t, l, &wire.Desired{Resources: dropped})
				if got := l.Run(t, "host1", "cat "+hbaPath); got != hbaBefore {
					t.Errorf("pg_hba.conf is not as it was before tend:\n%s", got)
				}
				if got := sql(t, l, "SELECT count(*) FROM pg_hba_file_rules WHERE 'keep' = ANY(database)"); got != "0" {
					t.Errorf("the server still has %s rules for keep", got)
				}
				if got := sql(t, l, "SELECT auth_method FROM pg_hba_file_rules WHERE 'pre' = ANY(database)"); got != "peer" {
					t.Errorf("the entry tend found is %q, not back to peer", got)
				}
				// shared_buffers is back to its default: tend restarted
				// PostgreSQL, as the spec allowed.
				if got := sql(t, l, "SELECT current_setting('work_mem') || ' ' || current_setting('shared_buffers') || ' ' || (SELECT count(*) FROM pg_settings WHERE pending_restart)"); got != "4MB 128MB 0" {
					t.Errorf("settings after removal: %q", got)
				}
				if out := l.Run(t, "host1", "ls /etc/postgresql/15/main/conf.d/"); out != "" {
					t.Errorf("conf.d holds %q", out)
				}
				if got := sql(t, l, "SELECT string_agg(rolname, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('app', 'legacy', 'owner', 'busy')"); got != "busy legacy owner" {
					t.Errorf("roles: %q, want app dropped and legacy kept", got)
				}
				if got := sql(t, l, "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database WHERE datname IN ('keep', 'gone')"); got != "keep" {
					t.Errorf("databases: %q, want gone dropped and keep kept", got)
				}
				if got := sqlIn(t, l, "keep", "SELECT count(*) FROM rows"); got != "100" {
					t.Errorf("keep holds %s rows, want 100", got)
				}
			}},
		)
		if t.Failed() {
			return
		}

		t.Run("the plan says what it removes and what it leaves", func(t *testing.T) {
			// The record forgot the kept ones: declare them again and
			// drop them, to see the plan.
			d := &wire.Desired{Resources: []wire.Item{owner, busy, keep, role("legacy", spec.PostgresRole{})}}
			if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil {
				t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
			}
			r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{owner, busy}})
			want := "postgres_role:legacy: keep role legacy existed before tend managed it: declare it with state: absent to drop it\n" +
				"postgres_database:keep: keep database keep is left on the host: a database holds data: declare it with state: absent and delete_data: true to drop it\n"
			if got := resourcetest.Describe(r); r.Err != nil || got != want {
				t.Errorf("plan (%v):\n%s\nwant:\n%s", r.Err, got, want)
			}
			for _, e := range r.Events {
				if e.Change != nil && !e.Removal {
					t.Errorf("%s: not a removal event", e.ID)
				}
			}
			if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{owner, busy}}); r.Err != nil || r.Removed != 2 {
				t.Fatalf("apply: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
			}
			settled(t, l, &wire.Desired{Resources: []wire.Item{owner, busy}})
		})

		t.Run("a role that owns objects is not dropped", func(t *testing.T) {
			d := &wire.Desired{Resources: []wire.Item{owner}}
			r := resourcetest.Run(t, l, "host1", wire.Apply, d)
			if r.Err == nil {
				t.Fatalf("apply dropped a role that owns a table:\n%s", resourcetest.Describe(r))
			}
			msg := r.Err.Error()
			for _, e := range r.Events {
				if e.Diag != nil {
					msg += "\n" + e.Diag.Message + "\nhint: " + e.Diag.Hint
				}
			}
			if !strings.Contains(msg, "role busy owns or has privileges on 1 object (in keep)") || !strings.Contains(msg, `REASSIGN OWNED BY "busy" TO postgres`) || !strings.Contains(msg, `DROP OWNED BY "busy"`) {
				t.Errorf("error:\n%s", msg)
			}
			if got := sql(t, l, "SELECT count(*) FROM pg_roles WHERE rolname = 'busy'"); got != "1" {
				t.Fatalf("busy was dropped")
			}
			sqlIn(t, l, "keep", "REASSIGN OWNED BY busy TO postgres")
			if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil || r.Removed != 1 {
				t.Fatalf("apply after REASSIGN OWNED: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
			}
			if got := sql(t, l, "SELECT count(*) FROM pg_roles WHERE rolname = 'busy'"); got != "0" {
				t.Errorf("busy was not dropped")
			}
			settled(t, l, d)
		})

		t.Run("state: absent drops a database only with delete_data", func(t *testing.T) {
			d := &wire.Desired{Resources: []wire.Item{absent(item(spec.KindPostgresDatabase, "keep", nil), false)}}
			r := resourcetest.Run(t, l, "host1", wire.Plan, d)
			if got := resourcetest.Describe(r); r.Err == nil || !strings.Contains(got, "database keep holds data: state: absent alone does not drop it") {
				t.Errorf("plan without delete_data (%v):\n%s", r.Err, got)
			}
			d = &wire.Desired{Resources: []wire.Item{absent(item(spec.KindPostgresDatabase, "keep", nil), true), absent(owner, false)}}
			// The owner goes after its database, in the same run.
			r = resourcetest.Run(t, l, "host1", wire.Apply, d)
			if r.Err != nil || r.Removed != 2 {
				t.Fatalf("apply: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
			}
			if got := sql(t, l, "SELECT count(*) FROM pg_database WHERE datname = 'keep'"); got != "0" {
				t.Errorf("keep was not dropped")
			}
			settled(t, l, d)
		})
	})

	t.Run("a restart the spec does not allow stays pending", func(t *testing.T) {
		d := &wire.Desired{Resources: []wire.Item{item(spec.KindPostgresSettings, "late", spec.PostgresSettings{
			Settings: map[string]string{"shared_buffers": "96MB", "work_mem": "6MB"}})}}
		const reason = "restart pending: shared_buffers take effect when PostgreSQL restarts, and this spec does not let tend restart it (restart: allowed); restart it yourself"
		r := resourcetest.Run(t, l, "host1", wire.Plan, d)
		if got, want := resourcetest.Describe(r), "postgres_settings:late: create shared_buffers (none) -> 96MB, work_mem (none) -> 6MB, restart (none) -> pending, "+reason+"\n"; got != want {
			t.Errorf("plan:\n%s\nwant:\n%s", got, want)
		}
		if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil || r.Changed != 1 {
			t.Fatalf("apply: %d changes, %v\n%s", r.Changed, r.Err, resourcetest.Describe(r))
		}
		if got := sql(t, l, "SELECT current_setting('shared_buffers') || ' ' || current_setting('work_mem') || ' ' || (SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers')"); got != "128MB 6MB true" {
			t.Errorf("after apply: %q, want shared_buffers pending, work_mem reloaded", got)
		}
		for range 2 { // the plan keeps saying so, as no change: a drift check is not stuck on it
			r := resourcetest.Run(t, l, "host1", wire.Plan, d)
			if got, want := resourcetest.Describe(r), "postgres_settings:late: pending restart pending (shared_buffers) -> not allowed, "+reason+"\n"; got != want || r.Changed != 0 {
				t.Errorf("plan after apply:\n%s\nwant:\n%s", got, want)
			}
		}
		if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil {
			t.Fatalf("apply: %v", r.Err)
		}
		if got := sql(t, l, "SELECT current_setting('shared_buffers')"); got != "128MB" {
			t.Errorf("tend restarted PostgreSQL: shared_buffers %s", got)
		}
		// tend status shows the restart that waits.
		if got := pendingRestart(t, l); got != "shared_buffers" {
			t.Errorf("agent status: pending restart %q, want shared_buffers", got)
		}
		l.Run(t, "host1", "systemctl restart postgresql@15-main")
		settled(t, l, d)
		if got := pendingRestart(t, l); got != "" {
			t.Errorf("agent status after a restart: pending restart %q, want none", got)
		}
		if got := sql(t, l, "SELECT current_setting('shared_buffers')"); got != "96MB" {
			t.Errorf("after a restart: shared_buffers %s", got)
		}
		// Removed from the spec: the file goes, the old value waits for
		// a restart again.
		r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{})
		if got, want := resourcetest.Describe(r), "postgres_settings:late: delete shared_buffers 96MB -> (none), work_mem 6MB -> (none), restart (none) -> pending, "+reason+"\n"; r.Err != nil || got != want {
			t.Errorf("removal (%v):\n%s\nwant:\n%s", r.Err, got, want)
		}
		if got := sql(t, l, "SELECT current_setting('shared_buffers') || ' ' || current_setting('work_mem') || ' ' || (SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers')"); got != "96MB 4MB true" {
			t.Errorf("after removal: %q", got)
		}
		settled(t, l, &wire.Desired{})
		l.Run(t, "host1", "systemctl restart postgresql@15-main")
	})

	t.Run("non-ASCII passwords", func(t *testing.T) {
		// PostgreSQL makes these verifiers itself: tend, given the same
		// passwords written otherwise, finds they match (it prepares
		// them as PostgreSQL does, so it computes the same verifier
		// from PostgreSQL's salt).
		const (
			decomposed = "pa\u0308sswo\u0308rd" // ä and ö as a letter and a combining diaeresis
			composed   = "p\u00e4ssw\u00f6rd"
			prohibited = "p\u00e4\ue000ss" // private use: PostgreSQL hashes the raw bytes
		)
		sql(t, l, "SET password_encryption = 'scram-sha-256'; CREATE ROLE p1 LOGIN PASSWORD '"+decomposed+"'; "+
			"CREATE ROLE p2 LOGIN PASSWORD '"+prohibited+"'; CREATE ROLE p3 LOGIN PASSWORD 'I\u00adX\u2168'")
		t.Logf("PostgreSQL's verifier of %q: %s", decomposed, sql(t, l, "SELECT rolpassword FROM pg_authid WHERE rolname = 'p1'"))
		theirs := &wire.Desired{Resources: []wire.Item{
			role("p1", spec.PostgresRole{Login: true, Password: composed}),
			role("p2", spec.PostgresRole{Login: true, Password: prohibited}),
			role("p3", spec.PostgresRole{Login: true, Password: "IXIX"}),
		}}
		settled(t, l, theirs)
		// Passwords tend sets: psql (libpq prepares the password too)
		// logs in over TCP with scram-sha-256, written either way.
		mine := &wire.Desired{Resources: append(theirs.Resources,
			role("p4", spec.PostgresRole{Login: true, Password: composed}),
			role("p5", spec.PostgresRole{Login: true, Password: prohibited}))}
		if r := resourcetest.Run(t, l, "host1", wire.Apply, mine); r.Err != nil || r.Changed != 2 {
			t.Fatalf("apply: %d changes, %v\n%s", r.Changed, r.Err, resourcetest.Describe(r))
		}
		settled(t, l, mine)
		for _, tc := range []struct{ user, password string }{{"p4", composed}, {"p4", decomposed}, {"p5", prohibited}, {"p1", composed}} {
			if !login(t, l, tc.user, "postgres", tc.password) {
				t.Errorf("%s cannot log in with %q", tc.user, tc.password)
			}
		}
		if login(t, l, "p4", "postgres", "passwort") {
			t.Errorf("p4 logs in with another password")
		}
		if got := sql(t, l, "SELECT count(*) FROM pg_authid WHERE rolname IN ('p4', 'p5') AND rolpassword LIKE 'SCRAM-SHA-256$4096:%'"); got != "2" {
			t.Errorf("%s SCRAM verifiers, want 2", got)
		}
	})
}
