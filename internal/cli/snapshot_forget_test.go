package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestSnapshotForgetAndDrillCLI covers what the subcommands resolve through
// the snapshot package: IDs given to forget (all or nothing), a drill and
// the list that reports it, and an init that fails leaving no key behind.
func TestSnapshotForgetAndDrillCLI(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	home := t.TempDir()
	store := "file://" + t.TempDir()
	e := &snapEnv{t: t, env: map[string]string{
		"HOME": home, "TEND_AGE_KEY": id.String(), "TEND_SNAPSHOT_STORE": store, "TEND_SNAPSHOT_RECIPIENTS": id.Recipient().String(),
		"TEND_SNAPSHOT_KEY_FILE": filepath.Join(home, "snapshot.key"), "TEND_SNAPSHOT_CACHE": filepath.Join(home, "cache"),
	}}
	e.ok("snapshot", "init")

	// A second init into the same store with a new key file fails and
	// leaves no key file: a key never exists without its repository.
	other := filepath.Join(home, "other.key")
	e2 := &snapEnv{t: t, env: map[string]string{"TEND_SNAPSHOT_STORE": store}}
	if _, errOut, code := e2.run("snapshot", "init", "--key-file", other); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("init into a used store: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("failed init left its key file: %v", err)
	}

	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a"), []byte("a\n"), 0o644)
	var ids []string
	for range 2 {
		var sn struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(e.ok("snapshot", "create", src, "--host", "h", "--json")), &sn); err != nil || sn.ID == "" {
			t.Fatalf("create --json: %v %+v", err, sn)
		}
		ids = append(ids, sn.ID)
	}
	if out := e.ok("snapshot", "list"); !strings.Contains(out, "last restore drill: never") {
		t.Errorf("list before any drill:\n%s", out)
	}

	// One unknown ID among good ones: nothing is forgotten.
	if _, errOut, code := e.run("snapshot", "forget", ids[0], "ffff"); code != 1 || !strings.Contains(errOut, `snapshot "ffff": not found`) {
		t.Errorf("forget with an unknown ID: exit %d\n%s", code, errOut)
	}
	if out := e.ok("snapshot", "forget", ids[0][:6], "--dry-run"); out != "would forget "+ids[0][:8]+"\n" {
		t.Errorf("forget --dry-run: %q", out)
	}
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(e.ok("snapshot", "list", "--json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("after a refused and a dry-run forget, list --json: %v %+v", err, list)
	}
	if out := e.ok("snapshot", "forget", ids[0]); !strings.Contains(out, "forgot 1 snapshot(s)") {
		t.Errorf("forget: %s", out)
	}
	if err := json.Unmarshal([]byte(e.ok("snapshot", "list", "--json")), &list); err != nil || len(list) != 1 || list[0].ID != ids[1] {
		t.Fatalf("after forget, list --json: %v %+v", err, list)
	}

	if out := e.ok("snapshot", "drill", "--scratch", t.TempDir()); !strings.Contains(out, "restore drill passed: snapshot "+ids[1][:8]+" of h, 1 files") {
		t.Errorf("drill: %s", out)
	}
	if out := e.ok("snapshot", "list"); !strings.Contains(out, "snapshot "+ids[1][:8]+", passed (1 files)") {
		t.Errorf("list after a drill:\n%s", out)
	}
	if _, errOut, code := e.run("snapshot", "drill", "abcd"); code != 1 || !strings.Contains(errOut, `snapshot "abcd": not found`) {
		t.Errorf("drill of an unknown snapshot: exit %d\n%s", code, errOut)
	}
}
