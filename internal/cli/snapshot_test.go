package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"tend/internal/store/storetest"
)

// snapEnv runs `tend snapshot ...` in-process with its own environment.
type snapEnv struct {
	t   *testing.T
	env map[string]string
}

func (e *snapEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	return runTree(e, snapshotCmd(), args...)
}

// runTree runs `tend CMD ...` in-process, with only cmd under tend.
func runTree(e *snapEnv, cmd *command, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	s := &session{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return e.env[k] }}
	tree := &command{name: "tend", subs: []*command{cmd}}
	code := s.exit(dispatch(context.Background(), s, tree, nil, args))
	return out.String(), errOut.String(), code
}

func (e *snapEnv) ok(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("tend %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// as returns a copy of the environment without the identity: a host.
func (e *snapEnv) host() *snapEnv {
	h := &snapEnv{t: e.t, env: map[string]string{}}
	for k, v := range e.env {
		if k != "TEND_AGE_KEY" {
			h.env[k] = v
		}
	}
	return h
}

func TestSnapshotCLI(t *testing.T) {
	for _, kind := range []string{"dir", "versitygw"} {
		t.Run(kind, func(t *testing.T) {
			id, _ := age.GenerateX25519Identity()
			home := t.TempDir()
			e := &snapEnv{t: t, env: map[string]string{
				"HOME": home, "TEND_AGE_KEY": id.String(), "TEND_SNAPSHOT_RECIPIENTS": id.Recipient().String() + "\n",
				"TEND_SNAPSHOT_KEY_FILE": filepath.Join(home, "snapshot.key"), "TEND_SNAPSHOT_CACHE": filepath.Join(home, "cache"),
			}}
			if kind == "dir" {
				e.env["TEND_SNAPSHOT_STORE"] = "file://" + t.TempDir()
			} else {
				srv := storetest.StartS3(t, kind)
				e.env["TEND_SNAPSHOT_STORE"] = srv.URL(srv.NewBucket(t), "snaps")
				e.env["AWS_ACCESS_KEY_ID"], e.env["AWS_SECRET_ACCESS_KEY"] = srv.AccessKey, srv.SecretKey
			}
			out := e.ok("snapshot", "init")
			if !strings.Contains(out, "wrote the new write key to "+e.env["TEND_SNAPSHOT_KEY_FILE"]) {
				t.Errorf("init output: %s", out)
			}
			key, _ := os.ReadFile(e.env["TEND_SNAPSHOT_KEY_FILE"])
			if strings.Contains(out, strings.TrimSpace(string(key))) {
				t.Error("init printed the write key")
			}
			if _, errOut, code := e.run("snapshot", "init"); code != 1 || !strings.Contains(errOut, "already exists") {
				t.Errorf("second init: exit %d: %s", code, errOut)
			}

			src := filepath.Join(t.TempDir(), "data")
			os.MkdirAll(filepath.Join(src, "cache"), 0o755)
			os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o644)
			os.WriteFile(filepath.Join(src, "cache", "junk"), []byte("junk"), 0o644)
			h := e.host()
			h.ok("snapshot", "create", src, "--host", "web1", "--tag", "hourly", "--exclude", "cache")
			os.WriteFile(filepath.Join(src, "b.txt"), []byte("beta\n"), 0o644)
			out = h.ok("snapshot", "create", src, "--host", "web1", "--exclude", "cache")
			if !strings.Contains(out, "1 unchanged") {
				t.Errorf("second create did not reuse the unchanged file: %s", out)
			}

			var list []struct {
				ID   string   `json:"id"`
				Host string   `json:"host"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal([]byte(h.ok("snapshot", "list", "--json")), &list); err != nil || len(list) != 2 {
				t.Fatalf("list --json: %v %v", list, err)
			}
			if list[0].Host != "web1" || len(list[0].Tags) != 1 {
				t.Errorf("list: %+v", list)
			}
			// The host cannot read.
			_, errOut, code := h.run("snapshot", "ls", "latest")
			if code != 1 || !strings.Contains(errOut, "tend: error: no age key") {
				t.Errorf("ls by a host: exit %d\n%s", code, errOut)
			}
			out = e.ok("snapshot", "ls", list[1].ID[:6], src)
			if !strings.Contains(out, src+"/b.txt") || strings.Contains(out, "junk") {
				t.Errorf("ls:\n%s", out)
			}
			out = e.ok("snapshot", "diff", list[0].ID, "latest")
			if !strings.Contains(out, "+ "+src+"/b.txt") {
				t.Errorf("diff:\n%s", out)
			}
			to := t.TempDir()
			e.ok("snapshot", "restore", "latest", src+"/b.txt", "--to", to)
			if b, _ := os.ReadFile(filepath.Join(to, src, "b.txt")); string(b) != "beta\n" {
				t.Errorf("restored %q", b)
			}
			out = e.ok("snapshot", "forget", "--keep-last", "1", "--dry-run")
			if !strings.Contains(out, "keep    "+list[1].ID[:8]) || !strings.Contains(out, "forget  "+list[0].ID[:8]) {
				t.Errorf("forget --dry-run:\n%s", out)
			}
			e.ok("snapshot", "forget", "--keep-last", "1")
			e.ok("snapshot", "prune", "--min-age", "0s")
			out = e.ok("snapshot", "check", "--read-data")
			if !strings.Contains(out, "no problems: 1 snapshots") {
				t.Errorf("check:\n%s", out)
			}
			out = e.ok("snapshot", "check", "--read-data=50%")
			if !strings.Contains(out, "no problems") {
				t.Errorf("check:\n%s", out)
			}
		})
	}
}

func TestSnapshotCLIErrors(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	store := "file://" + t.TempDir()
	e := &snapEnv{t: t, env: map[string]string{"TEND_AGE_KEY": id.String()}}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"snapshot", "list"}, nil, 2, "no store: give --store URL or set TEND_SNAPSHOT_STORE"},
		{[]string{"snapshot", "list", "--store", store}, nil, 1, "tend: hint: set TEND_SNAPSHOT_KEY"},
		{[]string{"snapshot", "list", "--store", store}, map[string]string{"TEND_SNAPSHOT_KEY": "abc"}, 1, "want 64 hex digits"},
		{[]string{"snapshot", "list", "--store", store}, map[string]string{"TEND_SNAPSHOT_KEY": strings.Repeat("ab", 32)}, 1, "no snapshot repository there"},
		{[]string{"snapshot", "init", "--store", store}, nil, 1, "no write key given and nowhere to write a new one"},
		{[]string{"snapshot", "restore", "latest", "--store", store}, nil, 2, "--to DIR is required"},
		{[]string{"snapshot", "forget", "--store", store}, nil, 2, "expected SNAPSHOT IDs or a policy"},
		{[]string{"snapshot", "check", "--read-data=2", "--store", store}, nil, 2, "want a fraction"},
		{[]string{"snapshot", "list", "--store", store}, map[string]string{"TEND_SNAPSHOT_KEY": "tend-snapshot-host-1:AAAA"}, 1, "not a valid tend-snapshot-host-1 key"},
		{[]string{"snapshot", "host-key", "a/b"}, map[string]string{"TEND_SNAPSHOT_KEY": strings.Repeat("ab", 32)}, 1, `host name "a/b": character '/' is not allowed`},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			for k, v := range tc.env {
				e.env[k] = v
				defer delete(e.env, k)
			}
			_, errOut, code := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant %q", code, tc.code, errOut, tc.want)
			}
		})
	}
	// A wrong write key is refused, not silently used.
	e.env["TEND_SNAPSHOT_KEY"] = strings.Repeat("ab", 32)
	e.ok("snapshot", "init", "--store", store)
	// --host is a host name: no '/', no line break that would forge a
	// line of 'tend snapshot list'.
	e.env["TEND_SNAPSHOT_RECIPIENTS"] = id.Recipient().String()
	src := t.TempDir()
	for _, h := range []string{"/", "web1\nweb2", "web1\nabcd1234  2026-01-01 12:00  web2", "Web1"} {
		if _, errOut, code := e.run("snapshot", "create", "--store", store, "--host", h, src); code != 1 || !strings.Contains(errOut, "tend: error: create: host name") {
			t.Errorf("create --host %q: exit %d\n%s", h, code, errOut)
		}
	}
	e.env["TEND_SNAPSHOT_KEY"] = strings.Repeat("cd", 32)
	if _, errOut, code := e.run("snapshot", "list", "--store", store); code != 1 || !strings.Contains(errOut, "the write key does not match this repository") {
		t.Errorf("wrong key: exit %d\n%s", code, errOut)
	}
}
