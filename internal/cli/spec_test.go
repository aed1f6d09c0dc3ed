package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tend/internal/spec"
)

// runSpecCmd runs tend like Main does, with validate and parity in the
// command tree whether or not root() lists them yet.
func runSpecCmd(args []string, stdout, stderr io.Writer) int {
	r := root()
	for _, c := range []*command{validateCmd(), parityCmd()} {
		if !slices.ContainsFunc(r.subs, func(x *command) bool { return x.name == c.name }) {
			r.subs = append(r.subs, c)
		}
	}
	s := &session{stdin: bytes.NewReader(nil), stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return s.exit(dispatch(context.Background(), s, r, nil, args))
}

// TestSpecExitCodes checks the exit codes and first lines of tend validate
// and tend parity (the scripts in testdata/script check their output).
func TestSpecExitCodes(t *testing.T) {
	good := "../spec/testdata/good"
	drifted := t.TempDir()
	if err := os.CopyFS(drifted, os.DirFS(good)); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(drifted, "environments", "staging.yaml")
	data, err := os.ReadFile(staging)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staging, bytes.Replace(data, []byte("kind: vps"), []byte("kind: proxmox-vm"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args         []string
		code         int
		stdout, errs string // prefixes of stdout and stderr
	}{
		{[]string{"validate", "--repo", good}, ExitOK, "ok: 2 environments, 2 hosts, 28 resources\n", "tend: note: environment production maps secrets but has no secrets/production.yaml yet"},
		{[]string{"validate", "--repo", "../spec/testdata/bad/bad-mode"}, ExitUsage, "", "tend: error: roles/base/role.yaml:4:11: file /etc/motd: mode"},
		{[]string{"validate", "--repo", "../spec/testdata/bad/undefined-var"}, ExitUsage, "", "tend: error: roles/base/role.yaml:3:28: file /etc/motd: content: undefined variable .site_name"},
		{[]string{"validate", "--repo", filepath.Join(t.TempDir(), "none")}, ExitUsage, "", "tend: error: repository "},
		{[]string{"validate", "extra"}, ExitUsage, "", "tend: error: expected no arguments"},
		{[]string{"parity", "staging", "production", "--repo", good}, ExitOK, "allowed ", ""},
		{[]string{"parity", "staging", "production", "--repo", drifted}, ExitFailure, "", "tend: error: environments staging and production differ in 1 way not"},
		{[]string{"parity", "production", "staging", "--repo", drifted}, ExitFailure, "", "tend: error: environments production and staging differ in 1 way not"},
		{[]string{"parity", "staging", "qa", "--repo", good}, ExitUsage, "", `tend: error: unknown environment "qa"`},
		{[]string{"parity", "staging", "--repo", good}, ExitUsage, "", "tend: error: expected two environments"},
		{[]string{"parity", "staging", "production", "--repo", "../spec/testdata/bad/bad-mode"}, ExitUsage, "", "tend: error: roles/base/role.yaml:4:11:"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runSpecCmd(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to start with %q", &stdout, tt.stdout)
			}
			if !strings.HasPrefix(stderr.String(), tt.errs) || (tt.errs == "") != (stderr.Len() == 0) {
				t.Errorf("stderr %q, want it to start with %q", &stderr, tt.errs)
			}
		})
	}
}

// TestParityJSON checks that --json is one JSON document with every
// difference, absent values as null, and same: false on drift.
func TestParityJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runSpecCmd([]string{"parity", "production", "staging", "--repo", "../spec/testdata/good", "--json"}, &stdout, &stderr)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var out struct {
		A, B        string
		Same        bool
		Differences []spec.Difference
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.A != "production" || out.B != "staging" || !out.Same || len(out.Differences) != 9 {
		t.Errorf("got %+v", out)
	}
	for _, d := range out.Differences {
		if d.Path == "hosts.web.addresses.public6" && (d.A == nil || *d.A != "2001:db8::10" || d.B != nil) {
			t.Errorf("public6: %+v", d)
		}
	}
}
