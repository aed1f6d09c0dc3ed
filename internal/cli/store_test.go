package cli

import (
	"strings"
	"testing"

	"tend/internal/store/storetest"
)

// tend store protect and check against a real server with IAM accounts:
// check fails before, protect sets it up, and a host's own key then sees
// its store protected.
func TestStoreProtectCLI(t *testing.T) {
	srv := storetest.StartS3(t, "versitygw")
	url := srv.URL(srv.NewLockedBucket(t), "db")
	hostKey, hostSecret := srv.NewAccount(t)
	admin := &snapEnv{t: t, env: map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}}
	host := &snapEnv{t: t, env: map[string]string{"AWS_ACCESS_KEY_ID": hostKey, "AWS_SECRET_ACCESS_KEY": hostSecret}}
	run := func(e *snapEnv, args ...string) (string, string, int) {
		t.Helper()
		return runTree(e, storeCmd(), args...)
	}

	out, errOut, code := run(admin, "store", "check", url)
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(errOut, "not protected") {
		t.Fatalf("check of an unprotected store: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = run(admin, "store", "protect", url, "--host", hostKey, "--retention", "2d", "--print")
	if code != 0 || !strings.Contains(out, `"s3:DeleteObjectVersion"`) || !strings.Contains(out, hostKey) {
		t.Fatalf("protect --print: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(host, "store", "check", url); code != 1 {
		t.Fatalf("--print changed the bucket: check exit %d %s", code, errOut)
	}
	if _, errOut, code := run(admin, "store", "protect", url); code != 1 || !strings.Contains(errOut, "--host") {
		t.Errorf("protect without --host: exit %d %s", code, errOut)
	}
	out, errOut, code = run(admin, "store", "protect", url, "--host", hostKey, "--retention", "2d")
	if code != 0 || !strings.Contains(out, "compliance lock, 2 days") {
		t.Fatalf("protect: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(host, "store", "check", url)
	if code != 0 || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("check with the host's key after protect: exit %d\n%s%s", code, out, errOut)
	}
	// The host's key cannot lift it.
	if _, _, code := run(host, "store", "protect", url, "--host", "someone", "--lock", "governance"); code == 0 {
		t.Errorf("a host's key re-protected its store")
	}
	if _, errOut, code := run(admin, "store", "check", "file://"+t.TempDir()); code != 1 || !strings.Contains(errOut, "another user or machine") {
		t.Errorf("check of a directory store: exit %d %s", code, errOut)
	}
}
