package plan_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/plan"
	"tend/internal/snapkey"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestDesiredCarriesRemoval: what the spec says about removal (state:
// absent, delete_data, purge_on_removal, remove_unmanaged_packages)
// reaches the agent.
func TestDesiredCarriesRemoval(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tend.yaml", "name: demo\nremove_unmanaged_packages: true\n")
	write("environments/prod.yaml", "hosts:\n  web:\n    address: 192.0.2.1\n    roles: [base]\n")
	write("roles/base/role.yaml", `resources:
  - directory: /srv/old
    state: absent
    delete_data: true
  - package: jq
    purge_on_removal: true
  - file: /etc/motd
    content: hi
`)
	repo, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := repo.Compile("prod", "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := plan.Desired(h)
	if err != nil {
		t.Fatal(err)
	}
	if !d.RemovePackages {
		t.Error("remove_unmanaged_packages did not reach the desired state")
	}
	byID := map[string]wire.Item{}
	for _, it := range d.Resources {
		byID[it.ID] = it
	}
	if it := byID["directory:/srv/old"]; it.State != wire.Absent || !it.DeleteData {
		t.Errorf("directory: state %q, delete_data %v; want absent, true", it.State, it.DeleteData)
	}
	if it := byID["file:/etc/motd"]; it.State != "" || it.DeleteData {
		t.Errorf("file: state %q, delete_data %v; want present", it.State, it.DeleteData)
	}
	if got := string(byID["package:jq"].Spec); got != `{"state":"present","purge_on_removal":true}` {
		t.Errorf("package spec %s; want the YAML names, not Go field names", got)
	}
}

// TestDesiredFileBackupHostKey: a file_backup's write key stays on the
// controller; the host receives the host key for its own name.
func TestDesiredFileBackupHostKey(t *testing.T) {
	const w = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tend.yaml", "name: demo\n")
	write("environments/prod.yaml", "secrets:\n  backup_key: vault_backup_key\nhosts:\n  web1:\n    address: 192.0.2.1\n    roles: [base]\n  db_1:\n    address: 192.0.2.2\n    roles: [base]\n")
	write("roles/base/role.yaml", `resources:
  - file_backup: etc
    paths: [/etc]
    store: file:///srv/backup
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    key: "{{.backup_key}}"
`)
	repo, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"vault_backup_key": w}
	h, err := repo.Compile("prod", "web1", secrets)
	if err != nil {
		t.Fatal(err)
	}
	d, err := plan.Desired(h)
	if err != nil {
		t.Fatal(err)
	}
	it := d.Resources[0]
	var fb spec.FileBackup
	if err := json.Unmarshal(it.Spec, &fb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(it.Spec), w) || !it.Sensitive {
		t.Errorf("the write key reaches the host, or the item is not sensitive: %s", it.Spec)
	}
	hk, err := snapkey.ParseHost(fb.Key)
	if err != nil || hk.Name != "web1" {
		t.Fatalf("key sent to web1: %v, host %v", err, hk)
	}
	want, _ := snapkey.ForHost(mustHex(t, w), "web1")
	if *hk != *want {
		t.Errorf("the host key sent is not the one derived for web1")
	}
	// A host whose name is no host name cannot record snapshots: the
	// spec says so, and Desired would refuse it too.
	if _, err := repo.Compile("prod", "db_1", secrets); err == nil || !strings.Contains(err.Error(), `host name "db_1"`) {
		t.Errorf("file_backup on host db_1: %v", err)
	}
	h.Name = "db_1"
	if _, err := plan.Desired(h); err == nil || !strings.Contains(err.Error(), `host name "db_1"`) {
		t.Errorf("Desired for host db_1: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
