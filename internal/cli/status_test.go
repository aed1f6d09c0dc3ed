package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"tend/internal/replica"
)

// TestScheduledBackups declares a file_backup on an application host and a
// replica on a storage host, applies them to lab hosts with a real S3
// server, runs their timers' jobs, and checks tend status, a restore, a
// broken then repaired replica, and a late job.
func TestScheduledBackups(t *testing.T) {
	p, bkey, bpub := newBackupLab(t)
	l, srv, key := p.l, p.srv, p.opsKey
	b := make([]byte, 32)
	rand.Read(b)
	writeKey := hex.EncodeToString(b)
	replicaBucket := srv.NewBucket(t)

	// The repository is created by an operator, from this machine.
	recips := filepath.Join(p.home, "recipients")
	os.WriteFile(recips, []byte(bpub+"\n"), 0o644)
	storeURL := srv.URL(p.bucket, "mail")
	p.env["AWS_ACCESS_KEY_ID"], p.env["AWS_SECRET_ACCESS_KEY"] = srv.AccessKey, srv.SecretKey
	p.env["TEND_SNAPSHOT_KEY"] = writeKey
	p.ok("", "snapshot", "init", "--store", storeURL, "--recipients", recips)

	p.write("tend.yaml", "name: mail\n")
	p.write("environments/production.yaml", `secrets:
  s3_key: vault_s3_key
  s3_secret: vault_s3_secret
  backup_key: vault_backup_key
  replica_key: vault_replica_key
  replica_secret: vault_replica_secret
  replica_ssh_key: vault_replica_ssh_key
hosts:
  host1: {address: 192.0.2.1, roles: [mail]}
  host2: {address: 192.0.2.2, roles: [storage]}
`)
	// The storage host's key may only read /srv/mail on host1.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pemKey, err := gossh.MarshalPrivateKey(priv, "storage")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(priv.Public())
	authLine := replica.AuthorizedKeyOptions("/srv/mail") + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub)))
	h1 := l.State.Host("host1")
	p.write("roles/mail/role.yaml", fmt.Sprintf(`resources:
  - directory: /srv/mail
  - file_backup: mail
    paths: [/srv/mail]
    exclude: ["*.tmp"]
    store: "%s"
    env: {AWS_ACCESS_KEY_ID: "{{.s3_key}}", AWS_SECRET_ACCESS_KEY: "{{.s3_secret}}"}
    recipients: [%s]
    key: "{{.backup_key}}"
    max_age: 2h
  - authorized_keys: root
    keys: [%q]
`, storeURL, bpub, authLine))
	p.write("roles/storage/role.yaml", fmt.Sprintf(`resources:
  - replica: mail
    from: "%s"
    to: "%s"
    env:
      TEND_FROM_AWS_ACCESS_KEY_ID: "{{.replica_key}}"
      TEND_FROM_AWS_SECRET_ACCESS_KEY: "{{.replica_secret}}"
      TEND_TO_AWS_ACCESS_KEY_ID: "{{.replica_key}}"
      TEND_TO_AWS_SECRET_ACCESS_KEY: "{{.replica_secret}}"
  - replica: mail-dir
    from_dir: "root@%s:/srv/mail"
    to: /srv/replicas/mail-dir
    ssh_key: "{{.replica_ssh_key}}"
    host_key: "%s"
`, storeURL, srv.URL(replicaBucket, "mail"), h1.Addr, strings.TrimSpace(h1.HostKey)))
	// The backed-up host has its own key, which cannot delete; the storage
	// host's replica reads the store and writes its own bucket.
	p.setSecret("vault_s3_key", p.hostKey)
	p.setSecret("vault_s3_secret", p.hostSecret)
	p.setSecret("vault_replica_key", srv.AccessKey)
	p.setSecret("vault_backup_key", writeKey)
	p.setSecret("vault_replica_secret", srv.SecretKey)
	p.setSecret("vault_replica_ssh_key", string(pem.EncodeToMemory(pemKey)))
	p.tend("apply", "production")

	// Before any run, status says so.
	p.tendFails(1, []string{"status", "production"}, "never ran")

	// A raw-email layout: a message appears, the hourly snapshot has it.
	p.l.MustEnter(t, "host1", "sh", "-c", "mkdir -p /srv/mail/new && echo 'Subject: FOI request 42' > /srv/mail/new/42.eml && echo junk > /srv/mail/x.tmp")
	sum := strings.Fields(p.l.MustEnter(t, "host1", "sha256sum", "/srv/mail/new/42.eml"))[0]
	runJob(t, p, "host1", "backup-mail")
	runJob(t, p, "host2", "replica-mail")
	runJob(t, p, "host2", "replica-mail-dir")
	if got := strings.Fields(p.l.MustEnter(t, "host2", "sha256sum", "/srv/replicas/mail-dir/latest/new/42.eml"))[0]; got != sum {
		t.Errorf("data directory replica: sha256 %s, want %s", got, sum)
	}
	// The key can only read: writing through it fails.
	if _, err := p.l.Enter(t, "host2", "sh", "-c", "echo x > /tmp/x && rsync -e 'ssh -i /etc/tend/jobs/replica-mail-dir.key -o UserKnownHostsFile=/etc/tend/jobs/replica-mail-dir.known_hosts -o BatchMode=yes' /tmp/x root@"+h1.Addr+":/srv/mail/x"); err == nil {
		t.Errorf("the replica's key could write to production")
	}
	// The host got its host key, never the write key, and its snapshots
	// carry the spec's host name.
	if got := p.l.MustEnter(t, "host1", "cat", "/etc/tend/env/backup-mail/TEND_SNAPSHOT_KEY"); strings.Contains(got, writeKey) || !strings.HasPrefix(strings.TrimSpace(got), "tend-snapshot-host-1:") {
		t.Errorf("host1's TEND_SNAPSHOT_KEY is not a host key")
	}
	if out := p.ok("", "snapshot", "list", "--json", "--store", storeURL); !strings.Contains(out, `"host": "host1"`) {
		t.Errorf("the snapshot does not record host1:\n%s", out)
	}
	out := p.tend("status", "production")
	for _, want := range []string{"file_backup", "backup-mail", "replica", "replica-mail"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Deleted on the host, restored from the snapshot with the same hash.
	p.l.MustEnter(t, "host1", "rm", "/srv/mail/new/42.eml")
	p.env["TEND_AGE_KEY_FILE"] = bkey
	dest := filepath.Join(p.home, "restored")
	p.ok("", "snapshot", "restore", "latest", "/srv/mail/new/42.eml", "--to", dest, "--store", storeURL)
	p.useKey(key)
	data, err := os.ReadFile(filepath.Join(dest, "srv/mail/new/42.eml"))
	if err != nil {
		t.Fatalf("restored file: %v", err)
	}
	if got := fmt.Sprintf("%x", sha256sum(data)); got != sum {
		t.Errorf("restored sha256 %s, want %s", got, sum)
	}
	if _, err := os.Stat(filepath.Join(dest, "srv/mail/x.tmp")); err == nil {
		t.Errorf("an excluded file was backed up")
	}
	// A restore drill from this machine, recorded in the repository.
	p.env["TEND_AGE_KEY_FILE"] = bkey
	if out := p.ok("", "snapshot", "drill", "--store", storeURL, "--scratch", p.home); !strings.Contains(out, "restore drill passed") {
		t.Errorf("drill: %s", out)
	}
	if out := p.ok("", "snapshot", "list", "--store", storeURL); !strings.Contains(out, "last restore drill:") || !strings.Contains(out, "passed") {
		t.Errorf("list after a drill:\n%s", out)
	}
	p.useKey(key)

	// The source of the directory replica stops answering: failure, then
	// recovery.
	p.l.MustEnter(t, "host1", "systemctl", "stop", "ssh.socket", "ssh.service")
	if _, err := p.l.Enter(t, "host2", "systemctl", "start", "tend-replica-mail-dir.service"); err == nil {
		t.Errorf("a failing directory pull exited 0")
	}
	p.l.MustEnter(t, "host1", "systemctl", "start", "ssh.service")
	p.tendFails(1, []string{"status", "production"}, "replica-mail-dir", "failing")
	runJob(t, p, "host2", "replica-mail-dir")

	// The replica's read key breaks: the job fails, status says so.
	p.setSecret("vault_replica_secret", "wrong")
	p.tend("apply", "production")
	if _, err := p.l.Enter(t, "host2", "systemctl", "start", "tend-replica-mail.service"); err == nil {
		t.Errorf("a failing replica pull exited 0")
	}
	p.tendFails(1, []string{"status", "production"}, "replica-mail", "failing")
	// Repaired: the next pull catches up with a new snapshot.
	p.setSecret("vault_replica_secret", srv.SecretKey)
	p.tend("apply", "production")
	p.l.MustEnter(t, "host1", "sh", "-c", "echo 'Subject: FOI request 43' > /srv/mail/new/43.eml")
	sum43 := strings.Fields(p.l.MustEnter(t, "host1", "sha256sum", "/srv/mail/new/43.eml"))[0]
	runJob(t, p, "host1", "backup-mail")
	runJob(t, p, "host2", "replica-mail")
	// tend status reaches the hosts without the secrets: no identity.
	p.env["TEND_AGE_KEY_FILE"] = filepath.Join(p.home, "no-such-key")
	p.tend("status", "production")
	// The replica holds the repository: restore from it.
	p.env["TEND_AGE_KEY_FILE"] = bkey
	dest2 := filepath.Join(p.home, "from-replica")
	p.ok("", "snapshot", "restore", "latest", "--to", dest2, "--store", srv.URL(replicaBucket, "mail"))
	p.useKey(key)
	if data, err := os.ReadFile(filepath.Join(dest2, "srv/mail/new/43.eml")); err != nil || fmt.Sprintf("%x", sha256sum(data)) != sum43 {
		t.Errorf("restore from the replica: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest2, "srv/mail/new/42.eml")); err == nil {
		t.Errorf("the latest snapshot has a file deleted before it was taken")
	}

	// The store's protection lifted (an administrator took the retention
	// off): the host's next status, read with its own key, fails.
	p.srv.RemoveRetention(t, p.bucket)
	p.tendFails(1, []string{"status", "production"}, "backup-mail", "does not protect old backups from this host's key", "Object Lock")

	// A job whose last success is older than its max_age is late.
	p.l.MustEnter(t, "host1", "sh", "-c", `sed -i 's/"last_success": "[^"]*"/"last_success": "2000-01-01T00:00:00Z"/' /var/lib/tend/jobs/backup-mail.json`)
	p.tendFails(1, []string{"status", "production"}, "backup-mail", "late")
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

// runJob starts a job's service now (as its timer would) and fails the
// test with the job's recorded status when it fails.
func runJob(t *testing.T, p *pitrLab, host, name string) {
	t.Helper()
	if _, err := p.l.Enter(t, host, "systemctl", "start", "tend-"+name+".service"); err != nil {
		st, _ := p.l.Enter(t, host, "cat", "/var/lib/tend/jobs/"+name+".json")
		t.Fatalf("%s: job %s failed: %v\n%s", host, name, err, st)
	}
}
