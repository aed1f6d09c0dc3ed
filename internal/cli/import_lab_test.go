package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/lab"
	"tend/internal/lab/labtest"
	"tend/internal/testenv"
)

// ansibleSample copies the FOI-shaped sample Ansible repository and
// encrypts its vault file with the real ansible-vault.
func ansibleSample(t *testing.T) (dir, passwordFile string, env []string) {
	t.Helper()
	bin, err := exec.LookPath("ansible-vault")
	testenv.Need(t, "ansible-vault (apt-get install ansible)", err)
	top := t.TempDir()
	dir = filepath.Join(top, "foi")
	if out, err := exec.Command("cp", "-r", "../ansible/testdata/foi", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	passwordFile = filepath.Join(top, "vault-pass")
	os.WriteFile(passwordFile, []byte("correct horse\n"), 0o600)
	vault := filepath.Join(dir, "group_vars", "all", "vault.yml")
	plain, _ := os.ReadFile("../ansible/testdata/vault-plain.yml")
	os.WriteFile(vault, plain, 0o600)
	env = append(os.Environ(), "HOME="+top, "ANSIBLE_LOCAL_TEMP="+top, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1")
	cmd := exec.Command(bin, "encrypt", "--vault-password-file", passwordFile, vault)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-vault encrypt: %v\n%s", err, out)
	}
	return dir, passwordFile, env
}

// TestImportAnsibleLab is the import's real-path proof: the sample Ansible
// repository converted, validated and applied by tend to lab host web,
// while ansible-playbook applies the same playbook to its twin lab host over
// SSH; the files, users, services and packages are then the same on both.
func TestImportAnsibleLab(t *testing.T) {
	playbook, err := exec.LookPath("ansible-playbook")
	testenv.Need(t, "ansible-playbook (apt-get install ansible)", err)
	src, pw, aenv := ansibleSample(t)
	l := labtest.NewWith(t, lab.Options{Hosts: []string{"web", "twin"}})
	e := newSecretEnv(t)
	e.forLab()
	keyPath, pub := e.keygen("ci")
	e.useKey(keyPath)

	out := e.ok("", "import", "ansible", src, "--out", e.repo, "--password-file", pw, "--recipient", pub+"=ci")
	for _, want := range []string{`task "wait for the application" (shell): register`, `task "say hello" (debug)`, "role anxs.postgresql: not in roles/"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"secrets/production.yaml", "environments/production.yaml", "roles/foi/role.yaml"} {
		b, err := os.ReadFile(filepath.Join(e.repo, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("%s holds a vault value in clear", f)
		}
	}
	e.ok("", "validate", "--repo", e.repo)
	e.ok("", "apply", "production", "--repo", e.repo, "--lab", l.State.Name)
	e.ok("", "plan", "production", "--repo", e.repo, "--lab", l.State.Name) // nothing left to change

	// Ansible's apt module needs python3-apt on the target: give the twin
	// that, from Debian's archive, as an Ansible user would.
	debs := t.TempDir()
	get := exec.Command("apt-get", "download", "python3-apt", "python-apt-common", "distro-info-data")
	get.Dir = debs
	if o, err := get.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, o)
	}
	twin := l.Host(t, "twin")
	key := l.Config.KeyPath(l.State.Name)
	sshArgs := []string{"-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	scp := exec.Command("scp", append(append(sshArgs, files...), "root@"+twin.Addr+":/tmp/")...)
	if o, err := scp.CombinedOutput(); err != nil {
		t.Fatalf("scp: %v\n%s", err, o)
	}
	l.Run(t, "twin", "dpkg -i /tmp/*.deb >/dev/null")

	// the twin's inventory: the production inventory's variables, the lab's
	// address and key; the playbook without the Galaxy role not installed.
	inv := filepath.Join(src, "inventories", "lab")
	os.MkdirAll(filepath.Join(inv, "group_vars"), 0o755)
	os.WriteFile(filepath.Join(inv, "hosts"), []byte(fmt.Sprintf(
		"[webservers]\ntwin ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s\n", twin.Addr, key)), 0o644)
	os.WriteFile(filepath.Join(inv, "group_vars", "all.yml"), []byte("server_name: madada.example\n"), 0o644)
	os.WriteFile(filepath.Join(src, "lab.yml"), []byte("- hosts: webservers\n  roles: [foi]\n"), 0o644)
	cmd := exec.Command(playbook, "-i", filepath.Join(inv, "hosts"), "--vault-password-file", pw, filepath.Join(src, "lab.yml"))
	cmd.Dir, cmd.Env = src, aenv
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, o)
	}

	// compare what both made
	files2 := []string{"/etc/foi.conf", "/etc/motd", "/etc/foi-server-name", "/etc/foi-release",
		"/etc/foi-site-madada.example", "/etc/foi-site-static.madada.example", "/etc/foi-limits.conf",
		"/etc/ssh/sshd_config", "/home/foi/.ssh/authorized_keys"}
	for _, f := range files2 {
		// foi.conf: the host's name and a lookup tend cannot convert differ
		q := fmt.Sprintf("stat -c '%%a %%U %%G' %s && grep -v -e '^host = ' -e '^uptime = ' %s", f, f)
		if a, b := l.Run(t, "web", q), l.Run(t, "twin", q); a != b {
			t.Errorf("%s differs:\ntend:\n%s\nansible:\n%s", f, a, b)
		}
	}
	for what, q := range map[string]string{
		"users":     "getent passwd foi | cut -d: -f1,4,6,7; id -nG foi",
		"groups":    "getent group foi | cut -d: -f1,4",
		"dirs":      "stat -c '%n %a %U %G' /srv/foi /srv/foi/www /srv/foi/static",
		"services":  "systemctl is-enabled nginx; systemctl is-active nginx",
		"packages":  "dpkg-query -W -f '${Package} ${Status}\\n' hello jq",
		"cron":      "grep -h 'foi-' /etc/cron.d/foi-cleanup", // tend adds SHELL and PATH lines; the job is the same
		"handler":   "test -e /var/lib/foi-cache-rebuilt && echo ran",
		"secret in": "grep -c '^db_password = s3cret-db$' /etc/foi.conf",
	} {
		if a, b := l.Run(t, "web", q), l.Run(t, "twin", q); a != b {
			t.Errorf("%s differ:\ntend:\n%s\nansible:\n%s", what, a, b)
		}
	}
}
