package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/store"
	"tend/internal/store/s3"
	"tend/internal/store/storetest"
)

// pitrLab is a two-host lab (host1: the database with a postgres_backup,
// host2: a spare PostgreSQL host) archiving to a real S3 server on the
// lab's gateway, driven through tend's CLI.
type pitrLab struct {
	*secretEnv
	l      *labtest.Lab
	srv    *storetest.S3Server
	bucket string
	// hostKey and hostSecret are the backed-up hosts' own key on the
	// server: an account the bucket's policy lets add and read objects,
	// never delete or unlock them (tend store protect). The server's root
	// key is the administrators'.
	hostKey, hostSecret string
	lab                 []string
	opsPub              string
	opsKey              string
}

// newBackupLab boots two lab hosts and an S3 server on the lab's gateway,
// and prepares a repository directory, an ops key (the secrets) and a
// backup key; it returns the backup key's file and public key.
func newBackupLab(t *testing.T) (*pitrLab, string, string) {
	l := labtest.New(t, 2)
	srv := storetest.StartS3At(t, "versitygw", l.State.Gateway())
	p := &pitrLab{secretEnv: newSecretEnv(t), l: l, srv: srv, bucket: srv.NewLockedBucket(t)}
	p.hostKey, p.hostSecret = srv.NewAccount(t)
	// Governance mode, so that the administrators' key (the tests) can
	// still damage the store on purpose and prune at once.
	if err := srv.NewStoreFor(t, p.bucket, "").Protect(context.Background(),
		s3.ProtectOptions{Hosts: []string{p.hostKey}, Lock: s3.Governance, Retention: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	p.forLab()
	key, pub := p.keygen("ops")
	p.useKey(key)
	p.opsPub = pub
	p.opsKey = key
	bkey, bpub := p.keygen("backup")
	p.lab = []string{"--repo", p.repo, "--lab", l.State.Name}
	return p, bkey, bpub
}

func newPITRLab(t *testing.T) *pitrLab {
	p, bkey, bpub := newBackupLab(t)
	p.env["TEND_BACKUP_KEY_FILE"] = bkey
	p.write("tend.yaml", "name: pitr\n")
	p.write("environments/production.yaml", `secrets:
  s3_key: vault_s3_key
  s3_secret: vault_s3_secret
hosts:
  host1: {address: 192.0.2.1, roles: [db]}
  host2: {address: 192.0.2.2, roles: []}
`)
	p.write("roles/db/role.yaml", fmt.Sprintf(`resources:
  - postgres_backup: main
    store: "%s"
    env:
      AWS_ACCESS_KEY_ID: "{{.s3_key}}"
      AWS_SECRET_ACCESS_KEY: "{{.s3_secret}}"
    recipients: [%s]
    archive_timeout: 60s
    keep_count: 2
    keep_within: 1d
`, p.srv.URL(p.bucket, "pg"), bpub))
	p.setSecret("vault_s3_key", p.hostKey)
	p.setSecret("vault_s3_secret", p.hostSecret)
	return p
}

func (p *pitrLab) write(name, content string) {
	os.MkdirAll(filepath.Join(p.repo, filepath.Dir(name)), 0o755)
	if err := os.WriteFile(filepath.Join(p.repo, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pitrLab) setSecret(name, value string) {
	p.t.Helper()
	args := []string{"secret", "set", "production", name}
	if _, err := os.Stat(filepath.Join(p.repo, "secrets", "production.yaml")); err != nil {
		args = append(args, "--recipient", p.opsPub) // a new secrets file
	}
	p.ok(value+"\n", args...)
}

// tend runs tend against the lab.
func (p *pitrLab) tend(args ...string) string {
	p.t.Helper()
	return p.ok("", append(args, p.lab...)...)
}

func (p *pitrLab) tendFails(want int, args []string, fragments ...string) string {
	p.t.Helper()
	return p.fails(want, "", append(args, p.lab...), fragments...)
}

func (p *pitrLab) sql(host, q string) string {
	p.t.Helper()
	return strings.TrimSpace(p.l.MustEnter(p.t, host, "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", q))
}

// switchAndWait forces the current WAL segment out and waits until the
// archiver reports it archived (or failed, when failing is true).
func (p *pitrLab) switchAndWait(host string, failing bool) string {
	p.t.Helper()
	seg := p.sql(host, "SELECT pg_walfile_name(pg_switch_wal())")
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if failing {
			if p.sql(host, "SELECT failed_count > 0 FROM pg_stat_archiver") == "t" {
				return seg
			}
		} else if p.sql(host, "SELECT coalesce(last_archived_wal, '') >= '"+seg+"' FROM pg_stat_archiver") == "t" {
			return seg
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("%s: segment %s not archived (failing=%v): %s", host, seg, failing, p.sql(host, "SELECT row_to_json(a) FROM pg_stat_archiver a"))
	return ""
}

// controlField reads a field of pg_controldata on host's cluster.
func (p *pitrLab) controlField(host, field string) string {
	p.t.Helper()
	out := p.l.MustEnter(p.t, host, "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_controldata", "/var/lib/postgresql/15/main")
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	p.t.Fatalf("%s: no %q in pg_controldata:\n%s", host, field, out)
	return ""
}

// notPromoted checks that host's cluster, restored from a backup of
// timeline 1, is stopped or in recovery, not accepting writes, and still on
// timeline 1 (a promotion starts a new one).
func (p *pitrLab) notPromoted(host string) {
	p.t.Helper()
	if out, err := p.l.Enter(p.t, host, "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-c", "SELECT pg_is_in_recovery()"); err == nil && strings.TrimSpace(out) != "t" {
		p.t.Errorf("%s: the server accepts writes after a failed restore (pg_is_in_recovery = %q)", host, out)
	}
	state := p.controlField(host, "Database cluster state")
	if state == "in production" || state == "shut down" {
		p.t.Errorf("%s: cluster state %q after a failed restore, want a cluster still in recovery", host, state)
	}
	if tli := p.controlField(host, "Latest checkpoint's TimeLineID"); tli != "1" {
		p.t.Errorf("%s: timeline %s after a failed restore: it was promoted", host, tli)
	}
}

func TestPITR(t *testing.T) {
	p := newPITRLab(t)
	p.tend("apply", "production")
	if got := p.sql("host1", "SHOW archive_mode"); got != "on" {
		t.Fatalf("archive_mode after apply = %q", got)
	}
	if out := p.tend("plan", "production"); strings.Contains(out, "postgres_backup") {
		t.Errorf("second plan is not empty:\n%s", out)
	}
	p.sql("host1", "CREATE TABLE t (v text, at timestamptz DEFAULT clock_timestamp())")
	p.tend("db", "backup", "production")

	// Row A, then a time, then row B: restore to the time gives A only.
	p.sql("host1", "INSERT INTO t (v) VALUES ('A')")
	between := p.sql("host1", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
	p.sql("host1", "INSERT INTO t (v) VALUES ('B')")
	// No transaction commits after this time until row C: a target here
	// is inside the window (the segment is archived after it) but beyond
	// the archive's last transaction.
	afterB := p.sql("host1", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
	p.switchAndWait("host1", false)

	out := p.tend("db", "backups", "production")
	if !strings.Contains(out, "restorable window:") {
		t.Errorf("db backups:\n%s", out)
	}
	out = p.tend("db", "restore", "production", "--to", between, "--onto", "host2")
	if got := p.sql("host2", "SELECT string_agg(v, ',' ORDER BY v) FROM t"); got != "A" {
		t.Fatalf("restore to %s: rows %q, want A\n%s", between, got, out)
	}
	if got := p.sql("host2", "SELECT pg_is_in_recovery()"); got != "f" {
		t.Errorf("restored server still in recovery")
	}
	p.sql("host2", "INSERT INTO t (v) VALUES ('written after restore')")
	if got := p.sql("host1", "SELECT string_agg(v, ',' ORDER BY v) FROM t"); got != "A,B" {
		t.Errorf("production changed by a restore onto host2: rows %q", got)
	}
	p.tend("db", "restore", "production", "--to", "latest", "--onto", "host2")
	if got := p.sql("host2", "SELECT string_agg(v, ',' ORDER BY v) FROM t"); got != "A,B" {
		t.Errorf("restore to latest: rows %q, want A,B", got)
	}

	// A target the archive does not reach: an error saying what was
	// reached; the cluster is left stopped in recovery, never promoted.
	p.tendFails(1, []string{"db", "restore", "production", "--to", afterB, "--onto", "host2"},
		"the archive ends before", "recovery reached LSN ", "last transaction at ", "nothing was promoted")
	p.notPromoted("host2")

	// Outside the window: a clear error, nothing touched.
	p.tendFails(1, []string{"db", "restore", "production", "--to", "2001-01-01T00:00:00Z", "--onto", "host2"},
		"before the oldest restorable time", "restorable window is")
	p.tendFails(1, []string{"db", "restore", "production", "--to", "2999-01-01T00:00:00Z", "--onto", "host2"},
		"after the latest restorable time")

	out = p.tend("db", "status", "production")
	if !strings.Contains(out, "healthy") || !strings.Contains(out, "restorable:") || !strings.Contains(out, "protection:     governance lock, 1 days") {
		t.Errorf("db status:\n%s", out)
	}

	// Broken store credentials: status fails loudly; repaired, the
	// backlog drains and nothing is lost.
	p.setSecret("vault_s3_secret", "wrong-secret")
	p.tend("apply", "production")
	p.sql("host1", "INSERT INTO t (v) VALUES ('C during outage')")
	p.switchAndWait("host1", true)
	p.tendFails(1, []string{"db", "status", "production"}, "NOT healthy", "archiving is failing")
	p.setSecret("vault_s3_secret", p.hostSecret)
	p.tend("apply", "production")
	p.sql("host1", "INSERT INTO t (v) VALUES ('D after repair')")
	p.switchAndWait("host1", false)
	// tend db reaches the database host without the secrets: no identity.
	p.env["TEND_AGE_KEY_FILE"] = filepath.Join(p.home, "no-such-key")
	p.tend("db", "status", "production")
	p.useKey(p.opsKey)
	if got := p.sql("host1", "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'"); got != "0" {
		t.Errorf("backlog after repair: %s ready files", got)
	}

	// A drill restores to a scratch place, leaves the cluster alone and is
	// recorded for status.
	out = p.tend("db", "drill", "production", "--query", "SELECT string_agg(v, ',' ORDER BY v) FROM t")
	if !strings.Contains(out, "A,B,C during outage,D after repair") {
		t.Errorf("drill:\n%s", out)
	}
	if out := p.tend("db", "status", "production"); !strings.Contains(out, "last drill:") || !strings.Contains(out, "passed") {
		t.Errorf("status after drill:\n%s", out)
	}

	// Destroy the database host's cluster, rebuild with apply, restore
	// latest in place: everything archived is back.
	p.sql("host1", "INSERT INTO t (v) VALUES ('E before the loss')")
	p.switchAndWait("host1", false)
	p.l.MustEnter(t, "host1", "sh", "-c", "pg_dropcluster --stop 15 main && rm -rf /etc/tend /usr/local/lib/tend /var/lib/tend/pitr && pg_createcluster 15 main --start >/dev/null")
	p.tend("apply", "production")
	out = p.tend("db", "restore", "production", "--to", "latest")
	if got := p.sql("host1", "SELECT string_agg(v, ',' ORDER BY v) FROM t"); got != "A,B,C during outage,D after repair,E before the loss" {
		t.Errorf("restore after rebuild: rows %q\n%s", got, out)
	}
	if !strings.Contains(out, "kept at /var/lib/postgresql/15/main.before-restore-") {
		t.Errorf("restore in place did not say where the old data is:\n%s", out)
	}

	// A segment deleted from the store: check names it, restore refuses.
	// The store is protected, so the damage is done by an administrator
	// who lifts the retention first.
	p.srv.RemoveRetention(t, p.bucket)
	ctx := context.Background()
	st := p.srv.NewStoreFor(t, p.bucket, "pg")
	var keys []string
	st.List(ctx, "wal/", func(i store.Info) error { keys = append(keys, i.Key); return nil })
	var segs []string
	for _, k := range keys {
		if strings.HasPrefix(k, "wal/00000001") && len(strings.Split(k, "/")[1]) == 24 {
			segs = append(segs, k)
		}
	}
	if len(segs) < 3 {
		t.Fatalf("too few archived segments: %v", keys)
	}
	// wal-fetch failing in the middle of a restore to latest (the base
	// backup is fetched; a later segment reads back as garbage, as from a
	// store gone bad): the restore fails and the copy on host2 is not
	// promoted short of the archive's end.
	if len(segs) < 4 {
		t.Fatalf("too few archived segments: %v", keys)
	}
	good := getObjectBytes(t, st, segs[len(segs)-3])
	if err := st.Put(ctx, segs[len(segs)-3], strings.NewReader("not a sealed segment"), 20, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p.tendFails(1, []string{"db", "restore", "production", "--to", "latest", "--onto", "host2"}, "nothing was promoted")
	p.notPromoted("host2")
	if err := st.Put(ctx, segs[len(segs)-3], bytes.NewReader(good), int64(len(good)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	victim := segs[len(segs)-2] // a later segment of timeline 1 is archived
	if err := st.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	p.tendFails(1, []string{"db", "check", "production"}, "gap")
}

func getObjectBytes(t *testing.T, st store.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
