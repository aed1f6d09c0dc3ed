package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/store"
	"tend/internal/store/storetest"
)

// runReplica runs `tend replica ARGS...` in-process with env as the whole
// environment and returns stdout, stderr and the exit code.
func runReplica(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := &session{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code := s.exit(dispatch(context.Background(), s, replicaCmd(), nil, args))
	return out.String(), errOut.String(), code
}

func TestReplicaUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"pull-store", "--from", "file:///tmp"}, "--from and --to are required"},
		{[]string{"pull-store", "--from", "file:///a", "--to", "file:///b", "--keep-deleted", "30"}, "30 has no unit"},
		{[]string{"pull-dir", "--from", "host", "--to", "/x", "--ssh-key", "k"}, `want USER@HOST:DIR`},
		{[]string{"pull-dir", "--from", "h:/d", "--to", "/x", "--ssh-key", "k", "--keep-daily", "-3"}, "keep daily -3"},
		{[]string{"status"}, "expected one or more status FILEs"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := runReplica(t, nil, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, errOut)
			}
		})
	}
}

func TestReplicaPullStoreCLI(t *testing.T) {
	srv := storetest.StartS3(t, "versitygw")
	src := srv.NewStore(t)
	ctx := context.Background()
	for _, k := range []string{"snap/1", "snap/2"} {
		if err := src.Put(ctx, k, strings.NewReader(k), int64(len(k)), putOpts()); err != nil {
			t.Fatal(err)
		}
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(src.String(), "s3://"), "/")
	prefix, _, _ = strings.Cut(prefix, "?")
	from := srv.URL(bucket, prefix)
	to := "file://" + t.TempDir()
	status := filepath.Join(t.TempDir(), "replica.json")
	env := map[string]string{
		"TEND_FROM_AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"TEND_FROM_AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		// Plain AWS_* must not be taken for the source.
		"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrong",
	}
	pull := []string{"pull-store", "--from", from, "--to", to, "--status", status}

	out, errOut, code := runReplica(t, env, pull...)
	if code != ExitOK || !strings.Contains(out, "2 objects copied") {
		t.Fatalf("first pull: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runReplica(t, env, "status", status, "--max-age", "1h"); code != ExitOK || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}

	// Broken credentials: non-zero exit, loud status.
	bad := map[string]string{"TEND_FROM_AWS_ACCESS_KEY_ID": srv.AccessKey, "TEND_FROM_AWS_SECRET_ACCESS_KEY": "wrong"}
	if out, errOut, code = runReplica(t, bad, pull...); code != ExitFailure || !strings.Contains(errOut, "tend: error: pull s3://") {
		t.Fatalf("pull with wrong credentials: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runReplica(t, env, "status", status)
	if code != ExitFailure || !strings.HasPrefix(out, "FAILING") || !strings.Contains(errOut, "failing for 1 pulls") {
		t.Fatalf("status of a failing replica: exit %d\n%s%s", code, out, errOut)
	}
	// No credentials at all: a hint names the prefixed variables.
	if _, errOut, code = runReplica(t, nil, pull...); code != ExitFailure || !strings.Contains(errOut, "tend: hint: set TEND_FROM_AWS_ACCESS_KEY_ID") {
		t.Fatalf("pull without credentials: exit %d\n%s", code, errOut)
	}

	// Recovery copies only the new object.
	if err := src.Put(ctx, "snap/3", strings.NewReader("3"), 1, putOpts()); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code = runReplica(t, env, append(pull, "--json")...); code != ExitOK || !strings.Contains(out, `"copied": 1,`) {
		t.Fatalf("recovery: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runReplica(t, env, "status", status, "--max-age", "1h"); code != ExitOK {
		t.Fatalf("status after recovery: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code = runReplica(t, env, "status", status, filepath.Join(t.TempDir(), "missing.json")); code != ExitFailure || !strings.Contains(errOut, "no such file") {
		t.Fatalf("status with a missing file: exit %d\n%s", code, errOut)
	}
}

func putOpts() store.PutOptions { return store.PutOptions{} }
