package replica

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/lab/labtest"
	"tend/internal/retention"
	"tend/internal/testenv"
)

func TestAuthorizedKeyOptions(t *testing.T) {
	if got, want := AuthorizedKeyOptions("/srv/data/"), `command="/usr/bin/rrsync -ro -absolute /srv/data",restrict`; got != want {
		t.Errorf("AuthorizedKeyOptions = %s, want %s", got, want)
	}
	for _, d := range []string{"/srv/data", "/var/lib/app-1/files", "/srv/a.b/c_d"} {
		if err := ValidDir(d); err != nil {
			t.Errorf("ValidDir(%q): %v", d, err)
		}
	}
	for _, d := range []string{"", "srv/data", "/srv/my data", `/srv/"x"`, "/srv/$(id)", "/srv/../etc", "/srv//x", "/"} {
		if err := ValidDir(d); err == nil {
			t.Errorf("ValidDir(%q) accepted it", d)
		}
	}
}

// TestParseStats reads the output of rsync --stats --no-human-readable.
func TestParseStats(t *testing.T) {
	out := `
Number of files: 1204 (reg: 1200, dir: 4)
Number of created files: 3 (reg: 3)
Number of deleted files: 0
Number of regular files transferred: 3
Total file size: 123456 bytes
Total transferred file size: 2048 bytes
`
	var rep Report
	parseStats([]byte(out), &rep)
	if diff := cmp.Diff(Report{Copied: 3, CopiedBytes: 2048, Skipped: 1197}, rep); diff != "" {
		t.Error(diff)
	}
}

// treeCmd lists a directory's entries with type, mode, owner, size, mtime of
// files and a SHA-256 of contents, as find and sha256sum see them: the
// same command runs on the production host and on the replica.
const treeCmd = `cd "$1" && find . -mindepth 1 \( -type l -printf '%p %y %l\n' \) -o \( -printf '%p %y %m %U:%G %s ' -a \( -type f -printf '%T@\n' -o -printf '\n' \) \) | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum`

func TestPullDirLab(t *testing.T) {
	for _, bin := range []string{"rsync", "ssh", "ssh-keygen"} {
		_, err := exec.LookPath(bin)
		testenv.Need(t, bin+" on the storage host (apt-get install rsync openssh-client)", err)
	}
	l := labtest.New(t, 1)
	h := l.Host(t, "host1")
	work := t.TempDir()
	key := filepath.Join(work, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "storage", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(work, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(h.Addr+" "+h.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Production: data with modes, owners, links and times; the storage
	// host's key restricted to reading /srv/data.
	l.Run(t, "host1", `set -e
mkdir -p /srv/data/mail/new /srv/other
printf 'hello\n' > /srv/data/a.txt
head -c 300000 /dev/urandom > /srv/data/mail/new/1.eml
chmod 640 /srv/data/a.txt && chown 1234:5678 /srv/data/mail/new/1.eml
ln /srv/data/a.txt /srv/data/hard.txt
ln -s a.txt /srv/data/link
touch -d '2020-02-02 10:00' /srv/data/a.txt
echo secret > /srv/other/x
echo '`+AuthorizedKeyOptions("/srv/data")+` `+strings.TrimSpace(string(pub))+`' >> /root/.ssh/authorized_keys`)

	to := filepath.Join(work, "replica")
	status := filepath.Join(work, "status.json")
	clk := &clock{time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts := DirOptions{Host: h.Addr, Dir: "/srv/data", To: to, SSHKey: key, KnownHosts: knownHosts,
		Keep: retention.Policy{Last: 2}, StatusFile: status, Now: clk.now, Timeout: 5 * time.Second}
	ctx := context.Background()
	pull := func(t *testing.T) Report {
		t.Helper()
		clk.advance(15 * time.Minute)
		rep, err := PullDir(ctx, opts)
		if err != nil {
			t.Fatalf("PullDir: %v", err)
		}
		return rep
	}
	same := func(t *testing.T) {
		t.Helper()
		want := l.Run(t, "host1", "sh -c '"+strings.ReplaceAll(treeCmd, "'", `'\''`)+"' sh /srv/data")
		out, err := exec.Command("sh", "-c", treeCmd, "sh", filepath.Join(to, "latest")+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("local tree: %v: %s", err, out)
		}
		if diff := cmp.Diff(want, string(out)); diff != "" {
			t.Errorf("replica differs from production (-production +replica):\n%s", diff)
		}
	}
	failPull := func(t *testing.T, o DirOptions, want string) {
		t.Helper()
		clk.advance(15 * time.Minute)
		_, err := PullDir(ctx, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("PullDir: %v, want an error containing %q", err, want)
		}
		st, serr := ReadStatus(status)
		if serr != nil || st.LastError == "" || st.Check(clk.t, 0) == nil {
			t.Fatalf("status does not show the failure: %+v, %v", st, serr)
		}
		if _, err := os.Stat(filepath.Join(to, partialDir)); err == nil {
			copies, _ := Copies(to)
			if len(copies) > 0 && copies[len(copies)-1] == clk.t.UTC().Format(copyFormat) {
				t.Error("a failed pull left a dated copy")
			}
		}
	}

	rep := pull(t)
	// a.txt and hard.txt are one file: sent once, linked with -H.
	if rep.Copied != 2 || rep.CopiedBytes != 300000+6 {
		t.Errorf("first pull: %+v", rep)
	}
	same(t)

	t.Run("read only", func(t *testing.T) {
		ssh := opts
		if err := ssh.defaults(); err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(work, "evil")
		os.WriteFile(local, []byte("evil"), 0o644)
		out, err := exec.Command("rsync", "-e", ssh.sshCommand(), local, "root@"+h.Addr+":/srv/data/evil").CombinedOutput()
		if err == nil {
			t.Errorf("rsync upload through the replica key succeeded: %s", out)
		}
		out, err = exec.Command("sh", "-c", ssh.sshCommand()+" root@"+h.Addr+" 'touch /srv/data/evil2; echo ran'").CombinedOutput()
		if err == nil || strings.Contains(string(out), "ran") {
			t.Errorf("a shell command through the replica key ran: %v: %s", err, out)
		}
		if out, _ := l.Enter(t, "host1", "ls", "/srv/data"); strings.Contains(out, "evil") {
			t.Errorf("the replica key wrote to production: %s", out)
		}
		// Outside the restricted directory: refused.
		o := opts
		o.Dir = "/srv/other"
		failPull(t, o, "rsync")
	})

	t.Run("wrong path", func(t *testing.T) {
		o := opts
		o.Dir = "/srv/data/nope"
		failPull(t, o, "rsync")
	})

	t.Run("stopped sshd then recovery", func(t *testing.T) {
		l.MustEnter(t, "host1", "systemctl", "stop", "ssh.service", "ssh.socket")
		l.Run(t, "host1", "true") // the lab's own connection survives
		failPull(t, opts, "Connection refused")
		l.MustEnter(t, "host1", "sh", "-c", "echo new > /srv/data/mail/new/2.eml && systemctl start ssh.service")
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := l.Enter(t, "host1", "systemctl", "is-active", "ssh.service")
			if strings.TrimSpace(out) == "active" || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		rep := pull(t)
		if rep.Copied != 1 || rep.CopiedBytes != 4 {
			t.Errorf("recovery copied %d files, %d bytes; want only the new file: %+v", rep.Copied, rep.CopiedBytes, rep)
		}
		same(t)
		st, err := ReadStatus(status)
		if err != nil || st.Check(clk.t, time.Hour) != nil || st.Failures != 0 {
			t.Errorf("status after recovery: %+v, %v", st, err)
		}
		// Unchanged files are hard links to the previous copy.
		copies, err := Copies(to)
		if err != nil || len(copies) != 2 {
			t.Fatalf("copies: %v, %v", copies, err)
		}
		ino := func(c string) uint64 {
			fi, err := os.Stat(filepath.Join(to, c, "mail/new/1.eml"))
			if err != nil {
				t.Fatal(err)
			}
			return fi.Sys().(*syscall.Stat_t).Ino
		}
		if ino(copies[0]) != ino(copies[1]) {
			t.Error("an unchanged file is not hard-linked between copies")
		}
	})

	t.Run("retention", func(t *testing.T) {
		before, _ := Copies(to)
		rep := pull(t)
		after, _ := Copies(to)
		if len(after) != 2 || !cmp.Equal(rep.Deleted, before[:1]) || after[1] != rep.Copy {
			t.Errorf("keep last 2: before %v, after %v, report %+v", before, after, rep)
		}
		same(t)
	})
}
