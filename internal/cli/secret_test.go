package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/testenv"
)

// secretEnv runs `tend secret ...` in-process against a temporary repository,
// with its own HOME and environment.
type secretEnv struct {
	t    *testing.T
	repo string
	home string
	env  map[string]string
	// outputs collects every stdout and stderr, for the canary test.
	outputs []string
}

func newSecretEnv(t *testing.T) *secretEnv {
	home := t.TempDir()
	return &secretEnv{t: t, repo: t.TempDir(), home: home, env: map[string]string{"HOME": home}}
}

// forLab gives the environment what tend needs to drive a lab: the lab's
// state and cache directories, PATH, and the agent binary it uploads.
func (e *secretEnv) forLab() {
	e.t.Helper()
	bin, err := agentBinaryForTests()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range []string{"TEND_LAB_DIR", "TEND_LAB_CACHE"} {
		if v := os.Getenv(k); v != "" {
			e.env[k] = v
		}
	}
	e.env["TEND_AGENT_BINARY"], e.env["PATH"] = bin, os.Getenv("PATH")
}

// run runs tend with args and stdin in the repository and returns stdout,
// stderr and the exit code.
func (e *secretEnv) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	s := &session{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string { return e.env[k] }}
	tree := root()
	if len(args) > 1 && args[0] == "secret" && args[1] != "keygen" && args[1] != "--help" {
		args = append(args, "--repo", e.repo)
	}
	code := s.exit(dispatch(context.Background(), s, tree, nil, args))
	e.outputs = append(e.outputs, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// ok runs tend and fails the test unless it exits 0.
func (e *secretEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("tend %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails runs tend, wants exit code want and every fragment in stderr.
func (e *secretEnv) fails(want int, stdin string, args []string, fragments ...string) string {
	e.t.Helper()
	_, errOut, code := e.run(stdin, args...)
	if code != want {
		e.t.Errorf("tend %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, errOut)
	}
	for _, f := range fragments {
		if !strings.Contains(errOut, f) {
			e.t.Errorf("tend %s: stderr lacks %q:\n%s", strings.Join(args, " "), f, errOut)
		}
	}
	return errOut
}

// keygen makes a key file for name and returns its path and public key.
func (e *secretEnv) keygen(name string) (string, string) {
	e.t.Helper()
	path := filepath.Join(e.home, name+".key")
	pub := strings.TrimSpace(e.ok("", "secret", "keygen", "--out", path))
	if !strings.HasPrefix(pub, "age1") {
		e.t.Fatalf("keygen printed %q", pub)
	}
	return path, pub
}

func (e *secretEnv) useKey(path string) { e.env["TEND_AGE_KEY_FILE"] = path }

func (e *secretEnv) file(env string) string {
	data, err := os.ReadFile(filepath.Join(e.repo, "secrets", env+".yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func (e *secretEnv) script(name, body string) string {
	e.t.Helper()
	path := filepath.Join(e.home, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\nset -e\n"+body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func TestSecretKeygen(t *testing.T) {
	e := newSecretEnv(t)
	out := e.ok("", "secret", "keygen")
	def := filepath.Join(e.home, ".config", "tend", "age.key")
	fi, err := os.Stat(def)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default key file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(def)
	if !strings.Contains(string(data), "# public key: "+strings.TrimSpace(out)) || !strings.Contains(string(data), "AGE-SECRET-KEY-1") {
		t.Errorf("key file content does not match the printed public key %q", out)
	}
	e.fails(1, "", []string{"secret", "keygen"}, "already exists; refusing to overwrite it", "tend: hint:")
	after, _ := os.ReadFile(def)
	if !bytes.Equal(data, after) {
		t.Error("keygen overwrote the key")
	}
}

func TestSecretSetGetListRm(t *testing.T) {
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	e.useKey(alice)
	e.fails(1, "x\n", []string{"secret", "set", "production", "vault_db"},
		"secrets/production.yaml does not exist and no recipient was given", "--recipient age1")
	e.ok("hunter2-long\n", "secret", "set", "production", "vault_db", "--recipient", alicePub+"=alice")
	e.ok("line1\nline2\n", "secret", "set", "production", "vault_cert")
	e.fails(1, "x\n", []string{"secret", "set", "production", "vault_x", "--recipient", alicePub},
		"exists: --recipient only applies to a new file")
	if got := e.ok("", "secret", "get", "production", "vault_db"); got != "hunter2-long\n" {
		t.Errorf("get vault_db = %q", got)
	}
	if got := e.ok("", "secret", "get", "production", "vault_cert"); got != "line1\nline2\n" {
		t.Errorf("get vault_cert = %q", got)
	}
	if got := e.ok("", "secret", "list", "production"); got != "vault_cert\nvault_db\n" {
		t.Errorf("list = %q", got)
	}
	var listed struct {
		Environment string
		Recipients  []struct{ Key, Label string }
		Secrets     []string
	}
	if err := json.Unmarshal([]byte(e.ok("", "secret", "list", "production", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if listed.Environment != "production" || len(listed.Recipients) != 1 || listed.Recipients[0].Label != "alice" ||
		!cmp.Equal(listed.Secrets, []string{"vault_cert", "vault_db"}) {
		t.Errorf("list --json = %+v", listed)
	}
	// get | set copies a value unchanged.
	e.ok(e.ok("", "secret", "get", "production", "vault_db"), "secret", "set", "production", "vault_db2")
	if got := e.ok("", "secret", "get", "production", "vault_db2"); got != "hunter2-long\n" {
		t.Errorf("copied value = %q", got)
	}
	e.ok("", "secret", "rm", "production", "vault_db2")
	e.fails(1, "", []string{"secret", "get", "production", "vault_db2"}, "no secret called vault_db2", "tend secret list production")
	e.fails(1, "", []string{"secret", "rm", "production", "vault_db2"}, "no secret called vault_db2")
	e.fails(1, "", []string{"secret", "list", "staging"}, "secrets/staging.yaml does not exist")
	// The value never comes from argv: a third argument is a usage error.
	e.fails(2, "", []string{"secret", "set", "production", "vault_db", "hunter2"}, "expected ENV NAME (the value comes from stdin)")
	e.fails(1, "x", []string{"secret", "set", "production", "db_password"}, `secret name "db_password" does not start with "vault_"`)
	e.fails(2, "", []string{"secret", "list", "../etc"}, "invalid environment name")
}

func TestSecretRekey(t *testing.T) {
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	bob, bobPub := e.keygen("bob")
	carol, carolPub := e.keygen("carol")
	e.ok("v1\n", "secret", "set", "production", "vault_a", "--recipient", alicePub+"=alice", "--recipient", bobPub+"=bob")
	e.useKey(alice)
	e.ok("", "secret", "rekey", "production", "--add", carolPub+"=carol", "--remove", bobPub)
	e.useKey(bob)
	e.fails(1, "", []string{"secret", "get", "production", "vault_a"},
		"secrets/production.yaml: your key ("+bobPub+") is not a recipient of this file; it opens only with:",
		alicePub+"  # alice", carolPub+"  # carol", "tend secret rekey production --add")
	e.useKey(carol)
	if got := e.ok("", "secret", "get", "production", "vault_a"); got != "v1\n" {
		t.Errorf("carol reads %q", got)
	}
	e.fails(2, "", []string{"secret", "rekey", "production"}, "nothing to do")
	e.fails(1, "", []string{"secret", "rekey", "production", "--add", carolPub}, "is already a recipient")
	e.fails(1, "", []string{"secret", "rekey", "production", "--remove", alicePub, "--remove", carolPub}, "nobody can open")
	e.fails(1, "", []string{"secret", "rekey", "production", "--add", "age1bogus"}, `recipient "age1bogus" is not an age X25519 public key`)
}

func TestSecretEdit(t *testing.T) {
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	e.useKey(alice)
	e.ok("alpha\n", "secret", "set", "production", "vault_a", "--recipient", alicePub)
	e.ok("beta\n", "secret", "set", "production", "vault_b")
	e.ok("gamma\n", "secret", "set", "production", "vault_c")
	before := e.file("production")
	log := filepath.Join(e.home, "editor.log")
	e.env["EDITOR"] = e.script("edit.sh", `echo "args: $*" >> `+log+`
stat -c 'mode %a' "$1" >> `+log+`
sed -i -e 's/^vault_b: .*/vault_b: "BETA 2"/' -e '/^vault_c:/d' "$1"
echo 'vault_d: |
  multi
  line' >> "$1"
`)
	_, errOut, code := e.run("", "secret", "edit", "production")
	if code != 0 {
		t.Fatalf("edit: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "added vault_d; changed vault_b; removed vault_c") {
		t.Errorf("edit summary: %s", errOut)
	}
	logData, _ := os.ReadFile(log)
	viewPath := strings.Fields(strings.Split(string(logData), "\n")[0])[1]
	if !strings.HasPrefix(viewPath, "/dev/shm/tend-secret-") || !strings.Contains(string(logData), "mode 600") {
		t.Errorf("view was not a 0600 file in /dev/shm: %s", logData)
	}
	if _, err := os.Stat(filepath.Dir(viewPath)); !os.IsNotExist(err) {
		t.Errorf("view directory %s still exists", filepath.Dir(viewPath))
	}
	after := e.file("production")
	lineOf := func(text, name string) string {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "  "+name+":") {
				return l
			}
		}
		return ""
	}
	if lineOf(before, "vault_a") != lineOf(after, "vault_a") || lineOf(after, "vault_a") == "" {
		t.Error("unchanged vault_a was re-encrypted")
	}
	if lineOf(before, "vault_b") == lineOf(after, "vault_b") || lineOf(after, "vault_c") != "" {
		t.Error("vault_b not re-encrypted or vault_c not removed")
	}
	for name, want := range map[string]string{"vault_a": "alpha\n", "vault_b": "BETA 2\n", "vault_d": "multi\nline\n"} {
		if got := e.ok("", "secret", "get", "production", name); got != want {
			t.Errorf("get %s = %q, want %q", name, got, want)
		}
	}

	t.Run("syntax error keeps the file", func(t *testing.T) {
		before := e.file("production")
		e.env["EDITOR"] = e.script("bad.sh", `printf 'vault_a: x\n  vault_b: : :\n' > "$1"`)
		e.fails(1, "", []string{"secret", "edit", "production"}, "edited secrets of production: line 2: YAML syntax error",
			"secrets/production.yaml is unchanged")
		if e.file("production") != before {
			t.Error("file changed after a bad edit")
		}
		e.env["EDITOR"] = e.script("bad2.sh", `echo 'db: x' >> "$1"`)
		e.fails(1, "", []string{"secret", "edit", "production"}, `secret name "db" does not start with "vault_"`)
		e.env["EDITOR"] = e.script("fail.sh", `echo 'vault_z: x' >> "$1"; exit 3`)
		e.fails(1, "", []string{"secret", "edit", "production"}, "failed: exit status 3; nothing changed")
		if e.file("production") != before {
			t.Error("file changed after a failed edit")
		}
		e.env["EDITOR"] = "true"
		_, errOut, _ := e.run("", "secret", "edit", "production")
		if !strings.Contains(errOut, "no changes") || e.file("production") != before {
			t.Errorf("no-op edit: %s", errOut)
		}
		left, _ := filepath.Glob("/dev/shm/tend-secret-*")
		if len(left) > 0 {
			t.Errorf("views left in /dev/shm: %v", left)
		}
	})

	t.Run("no /dev/shm", func(t *testing.T) {
		defer func(d string) { ramDir = d }(ramDir)
		ramDir = filepath.Join(e.home, "no-shm")
		e.env["EDITOR"] = e.script("add.sh", `echo 'vault_e: eps' >> "$1"`)
		e.fails(1, "", []string{"secret", "edit", "production"}, "does not exist: refusing to write decrypted secrets to disk", "--allow-disk")
		e.env["TMPDIR"] = e.home
		e.ok("", "secret", "edit", "production", "--allow-disk")
		if got := e.ok("", "secret", "get", "production", "vault_e"); got != "eps\n" {
			t.Errorf("vault_e = %q", got)
		}
	})
}

func TestSecretImportAnsibleVault(t *testing.T) {
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	e.useKey(alice)
	pw := filepath.Join(e.home, "pw")
	os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600)
	vault, err := filepath.Abs("../secret/testdata/vault-1.1.yml")
	if err != nil {
		t.Fatal(err)
	}
	e.fails(1, "", []string{"secret", "import-ansible-vault", "production", vault, "--password-file", pw},
		"does not exist and no recipient was given")
	e.fails(1, "wrong\n", []string{"secret", "import-ansible-vault", "production", vault, "--recipient", alicePub},
		"wrong ansible-vault password")
	e.ok("", "secret", "import-ansible-vault", "production", vault, "--password-file", pw, "--recipient", alicePub)
	if got := e.ok("", "secret", "get", "production", "vault_db_password"); got != "s3cr3t: with colon\n" {
		t.Errorf("imported value = %q", got)
	}
	// The password may come from stdin; names already present are refused.
	e.fails(1, "correct horse battery staple\n", []string{"secret", "import-ansible-vault", "production", vault},
		"secrets/production.yaml already holds vault_db_password, vault_multi, vault_number, vault_smtp_token")

	t.Run("real ansible-vault", func(t *testing.T) {
		bin, err := exec.LookPath("ansible-vault")
		testenv.Need(t, "ansible-vault (apt-get install ansible)", err)
		file := filepath.Join(e.home, "vault.yml")
		os.WriteFile(file, []byte("db_user: app\nvault_api_token: tok-123456\n"), 0o600)
		cmd := exec.Command(bin, "encrypt", "--vault-password-file", pw, file)
		cmd.Env = append(os.Environ(), "HOME="+e.home, "ANSIBLE_LOCAL_TEMP="+e.home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ansible-vault: %v\n%s", err, out)
		}
		e.fails(1, "", []string{"secret", "import-ansible-vault", "staging", file, "--password-file", pw, "--recipient", alicePub},
			"names without the vault_ prefix: db_user", "--prefix")
		e.ok("", "secret", "import-ansible-vault", "staging", file, "--password-file", pw, "--recipient", alicePub, "--prefix")
		if got := e.ok("", "secret", "list", "staging"); got != "vault_api_token\nvault_db_user\n" {
			t.Errorf("list = %q", got)
		}
		if got := e.ok("", "secret", "get", "staging", "vault_db_user"); got != "app\n" {
			t.Errorf("vault_db_user = %q", got)
		}
	})
}

func TestSecretKeyErrors(t *testing.T) {
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	e.ok("v\n", "secret", "set", "production", "vault_a", "--recipient", alicePub)
	e.fails(1, "", []string{"secret", "get", "production", "vault_a"}, "no age key: TEND_AGE_KEY is not set and", "tend secret keygen")
	os.Chmod(alice, 0o644)
	e.useKey(alice)
	e.fails(1, "", []string{"secret", "get", "production", "vault_a"}, "has mode 0644: group or others can read it; refusing to use it", "tend: hint: chmod 600 "+alice)
	os.Chmod(alice, 0o600)
	data, _ := os.ReadFile(alice)
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-1") {
			e.env["TEND_AGE_KEY"] = l
			e.env["TEND_AGE_KEY_FILE"] = "/nonexistent"
		}
	}
	if got := e.ok("", "secret", "get", "production", "vault_a"); got != "v\n" {
		t.Errorf("with TEND_AGE_KEY: %q", got)
	}
}

// TestSecretCanary sends a unique value through every command and failure
// path and checks that it shows up only where asked: `secret get`'s stdout
// and the editor's view in /dev/shm, never in other output, argv, or any file
// on disk.
func TestSecretCanary(t *testing.T) {
	b := make([]byte, 12)
	rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)
	e := newSecretEnv(t)
	alice, alicePub := e.keygen("alice")
	bob, bobPub := e.keygen("bob")
	_, carolPub := e.keygen("carol")
	e.useKey(alice)
	e.ok(canary+"\n", "secret", "set", "production", "vault_canary", "--recipient", alicePub)
	e.ok("other\n", "secret", "set", "production", "vault_other")
	e.ok("", "secret", "list", "production")
	e.ok("", "secret", "list", "production", "--json")
	if got := e.ok("", "secret", "get", "production", "vault_canary"); got != canary+"\n" {
		t.Fatalf("get = %q", got)
	}
	e.outputs = e.outputs[:len(e.outputs)-2] // get's stdout is the deliberate way out

	e.useKey(bob)
	e.fails(1, "", []string{"secret", "get", "production", "vault_canary"}, "is not a recipient")
	e.fails(1, "", []string{"secret", "edit", "production"}, "is not a recipient")
	e.useKey(alice)
	log := filepath.Join(e.home, "argv.log")
	e.env["EDITOR"] = e.script("edit.sh", `echo "$0 $*" >> `+log+`; cat /proc/$$/cmdline >> `+log+`
sed -i 's/^vault_other: .*/vault_other: changed/' "$1"`)
	e.ok("", "secret", "edit", "production")
	e.env["EDITOR"] = e.script("bad.sh", `sed -i 's/^vault_canary: \(.*\)/vault_canary: [\1/' "$1"`)
	e.fails(1, "", []string{"secret", "edit", "production"}, "YAML syntax error")
	e.env["EDITOR"] = e.script("bad2.sh", `sed -i 's/^vault_canary:/canary:/' "$1"`)
	e.fails(1, "", []string{"secret", "edit", "production"}, "does not start with")
	e.env["EDITOR"] = e.script("bad3.sh", `sed -i 's/^vault_canary: \(.*\)/vault_canary: {x: \1}/' "$1"`)
	e.fails(1, "", []string{"secret", "edit", "production"}, "must be a string")
	e.ok("", "secret", "rekey", "production", "--add", bobPub, "--add", carolPub)
	e.useKey(bob)
	e.ok("", "secret", "rekey", "production", "--remove", alicePub)
	e.useKey(alice)
	e.fails(1, "", []string{"secret", "rekey", "production", "--add", alicePub}, "is not a recipient")
	// A damaged file: every value's error names the line, not the value.
	path := filepath.Join(e.repo, "secrets", "production.yaml")
	text := e.file("production")
	os.WriteFile(path, []byte(strings.Replace(text, "vault_canary: YWdl", "vault_canary: YWdm", 1)), 0o644)
	e.useKey(bob)
	e.fails(1, "", []string{"secret", "get", "production", "vault_canary"}, "production.yaml:")
	os.WriteFile(path, []byte(text), 0o644)
	e.fails(1, canary+"\n", []string{"secret", "set", "production", "bad-name"}, "does not start with")

	for i, out := range e.outputs {
		if strings.Contains(out, canary) {
			t.Errorf("output %d shows the canary:\n%s", i, out)
		}
	}
	argv, err := os.ReadFile(log)
	if err != nil || len(argv) == 0 {
		t.Fatalf("editor log: %v", err)
	}
	if bytes.Contains(argv, []byte(canary)) {
		t.Errorf("editor argv shows the canary: %s", argv)
	}
	for _, root := range []string{e.repo, e.home} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, []byte(canary)) {
				t.Errorf("%s holds the canary in plain text", p)
			}
			return nil
		})
	}
	left, _ := filepath.Glob("/dev/shm/tend-secret-*")
	if len(left) > 0 {
		t.Errorf("views left in /dev/shm: %v", left)
	}
	_ = alice
}
