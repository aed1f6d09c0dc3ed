package secret

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindPlaintext(t *testing.T) {
	values := map[string]Value{
		"vault_db_password": NewValue("hunter2-long"),
		"vault_port":        NewValue("5432"), // too short to look for
		"vault_cert":        NewValue("-----BEGIN\nKEY-----"),
	}
	files := map[string][]byte{
		"group_vars/all.yml": []byte("db_password: hunter2-long\nport: 5432\n"),
		"roles/x.conf":       []byte("a\nb\npass=hunter2-long hunter2-long\n-----BEGIN\nKEY-----\n"),
		"clean.yml":          []byte("nothing here hunter2\n"),
	}
	got := FindPlaintext(values, files)
	want := []Finding{
		{"group_vars/all.yml", 1, "vault_db_password"},
		{"roles/x.conf", 3, "vault_db_password"},
		{"roles/x.conf", 4, "vault_cert"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if s := got[0].String(); s != "group_vars/all.yml:1: the value of secret vault_db_password appears in plain text" {
		t.Errorf("String() = %q", s)
	}
}
