package plan_test

import (
	"os"
	"path/filepath"
	"testing"

	"tend/internal/plan"
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
