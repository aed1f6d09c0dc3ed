package pgbackup_test

import (
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestRemoval declares a postgres_backup, a file_backup and two replicas
// on a lab host with PostgreSQL 15, then drops them from the spec: their
// timers, configurations, credentials and state go, the archive settings
// are reset (with a restart), and what is in their stores stays.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipient := id.Recipient().String()
	sql := func(t *testing.T, q string) string {
		t.Helper()
		return strings.TrimSpace(l.MustEnter(t, "host1", "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", q))
	}
	l.Run(t, "host1", "mkdir -p /srv/snap /srv/copy && echo kept > /srv/snap/marker && echo kept > /srv/copy/marker")
	items := []wire.Item{
		resourcetest.Item(spec.KindPostgresBackup, "main", spec.PostgresBackup{Version: "15", Store: "file:///srv/pgbackup",
			Recipients: []string{recipient}, Schedule: "daily", KeepCount: 7, KeepWithin: "14d", ArchiveTimeout: "60s", Parallel: 4}),
		resourcetest.Item(spec.KindFileBackup, "docs", spec.FileBackup{Paths: []string{"/etc"}, Store: "file:///srv/snap",
			Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "the-secret-canary"}, Recipients: []string{recipient},
			Key: strings.Repeat("ab", 32), Schedule: "hourly", MaxAge: "2h"}),
		resourcetest.Item(spec.KindReplica, "snap", spec.Replica{From: "file:///srv/snap", To: "file:///srv/copy",
			Schedule: "*:0/15", MaxAge: "1h", KeepDeleted: "30d"}),
		resourcetest.Item(spec.KindReplica, "data", spec.Replica{FromDir: "root@127.0.0.1:/srv/data", To: "/srv/copy/data",
			SSHKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE",
			Port: 22, KeepHourly: 48, KeepDaily: 14, KeepWeekly: 8, KeepMonthly: 12, Schedule: "*:0/15", MaxAge: "1h", KeepDeleted: "30d"}),
	}
	for i := range items {
		items[i].Sensitive = true
	}
	leftovers := "ls -d /etc/systemd/system/tend-* /etc/tend/jobs/* /etc/tend/env/* /etc/tend/pitr/* /var/lib/tend/jobs/* /var/lib/tend/pitr/* /etc/postgresql/15/main/conf.d/* 2>/dev/null || true"
	var store string
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "declare", Resources: items, Check: func(t *testing.T) {
			if got := sql(t, "SELECT current_setting('archive_mode') || ' ' || current_setting('archive_timeout')"); got != "on 1min" {
				t.Fatalf("archive settings: %q", got)
			}
			// A WAL segment reaches the store, and a job run leaves a
			// status (a failure: the snapshot store was never set up).
			seg := sql(t, "SELECT pg_walfile_name(pg_switch_wal())")
			for deadline := time.Now().Add(90 * time.Second); sql(t, "SELECT coalesce(last_archived_wal, '') >= '"+seg+"' FROM pg_stat_archiver") != "t"; {
				if time.Now().After(deadline) {
					t.Fatalf("segment %s not archived: %s", seg, sql(t, "SELECT row_to_json(a) FROM pg_stat_archiver a"))
				}
				time.Sleep(200 * time.Millisecond)
			}
			l.Run(t, "host1", "systemctl start tend-backup-docs.service || true")
			store = l.Run(t, "host1", "find /srv/pgbackup /srv/snap /srv/copy -type f | sort | xargs sha256sum")
			if !strings.Contains(store, "/srv/pgbackup/") {
				t.Errorf("nothing in the PostgreSQL store:\n%s", store)
			}
			got := l.Run(t, "host1", leftovers)
			for _, want := range []string{"tend-pg-backup-main.timer", "tend-backup-docs.timer", "tend-replica-snap.timer", "tend-replica-data.timer",
				"/etc/tend/jobs/replica-data.key", "/etc/tend/env/backup-docs", "/etc/tend/pitr/main.env", "/var/lib/tend/jobs/backup-docs.json",
				"/var/lib/tend/pitr/main", "tend-backup-main.conf"} {
				if !strings.Contains(got, want) {
					t.Errorf("after apply, no %s among:\n%s", want, got)
				}
			}
		}},
		resourcetest.State{Name: "drop them from the spec", Check: func(t *testing.T) {
			if got := l.Run(t, "host1", leftovers); got != "" {
				t.Errorf("left on the host:\n%s", got)
			}
			if got := l.Run(t, "host1", "systemctl list-units --all --no-legend 'tend-*' | wc -l"); strings.TrimSpace(got) != "0" {
				t.Errorf("systemd still knows %s tend units", got)
			}
			if got := sql(t, "SELECT current_setting('archive_mode') || ' ' || (SELECT source FROM pg_settings WHERE name = 'archive_command') || ' ' || (SELECT count(*) FROM pg_settings WHERE pending_restart)"); got != "off default 0" {
				t.Errorf("archive settings after removal: %q", got)
			}
			if got := l.Run(t, "host1", "find /srv/pgbackup /srv/snap /srv/copy -type f | sort | xargs sha256sum"); got != store {
				t.Errorf("the stores changed:\n%s\nwas:\n%s", got, store)
			}
			if r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{}); r.Err != nil || r.Changed != 0 || r.Removed != 0 {
				t.Errorf("plan after removal: %d changes, %d removals, %v\n%s", r.Changed, r.Removed, r.Err, resourcetest.Describe(r))
			}
		}},
	)
	if t.Failed() {
		return
	}
	// The plan of a removal names what goes and says the store stays; a
	// state: absent with only a name is enough.
	t.Run("state: absent", func(t *testing.T) {
		it := resourcetest.Item(spec.KindFileBackup, "docs", spec.FileBackup{Paths: []string{"/etc"}, Store: "file:///srv/snap",
			Recipients: []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}, Key: strings.Repeat("ab", 32), Schedule: "hourly", MaxAge: "2h"})
		if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{it}}); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
		}
		gone := wire.Item{ID: it.ID, Kind: it.Kind, Name: it.Name, State: wire.Absent}
		r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{gone}})
		want := "file_backup:docs: delete timer tend-backup-docs -> (none), config /etc/tend/jobs/backup-docs.json -> (none), " +
			"credentials /etc/tend/env/backup-docs -> (none), the snapshots already in the store stay there\n"
		if got := resourcetest.Describe(r); r.Err != nil || got != want {
			t.Errorf("plan (%v):\n%s\nwant:\n%s", r.Err, got, want)
		}
		if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{gone}}); r.Err != nil || r.Removed != 1 {
			t.Fatalf("apply: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
		}
		if got := l.Run(t, "host1", "ls /etc/systemd/system/ /etc/tend/jobs /etc/tend/env | grep backup-docs || true"); got != "" {
			t.Errorf("left: %s", got)
		}
	})
}
