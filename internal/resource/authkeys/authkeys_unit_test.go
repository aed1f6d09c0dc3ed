package authkeys

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	k1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ0nSbyN2dEGpJb/sMnLEQ/ktxkHRRzvBbgDZNRKlAU"
	k2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlDxbq1y4lyOpsTo4Ai2mYJQ2Ryz27DOEPUtvmi+x/o"
	k3 = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg="
)

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want Key
		ok   bool
	}{
		{k1 + " alice@laptop", Key{Type: "ssh-ed25519", Data: strings.Fields(k1)[1], Comment: "alice@laptop"}, true},
		{k1, Key{Type: "ssh-ed25519", Data: strings.Fields(k1)[1]}, true},
		{"  " + k3 + "   two words ", Key{Type: "ecdsa-sha2-nistp256", Data: strings.Fields(k3)[1], Comment: "two words"}, true},
		{`from="10.0.0.1",command="echo \"a b\"" ` + k2 + " ci",
			Key{Options: `from="10.0.0.1",command="echo \"a b\""`, Type: "ssh-ed25519", Data: strings.Fields(k2)[1], Comment: "ci"}, true},
		{"no-pty\t" + k2, Key{Options: "no-pty", Type: "ssh-ed25519", Data: strings.Fields(k2)[1]}, true},
		{"# " + k1, Key{}, false},
		{"", Key{}, false},
		{"ssh-ed25519", Key{}, false},
		{"ssh-ed25519 not*base64", Key{}, false},
		{"garbage line here", Key{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok := Parse(tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// As printed by ssh-keygen -lf for k1.
	k, _ := Parse(k1 + " me")
	if got, want := k.Fingerprint(), "SHA256:"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " me") || len(got) != len("SHA256:")+43+3 {
		t.Errorf("fingerprint %q", got)
	}
}

func TestMerge(t *testing.T) {
	fp := func(line string) string { k, _ := Parse(line); return k.Fingerprint() }
	tests := []struct {
		name      string
		old       string
		keys      []string
		exclusive bool
		want      string
		added     []string
		updated   []string
		removed   []string
	}{
		{name: "empty file", old: "", keys: []string{k1 + " a", k2},
			want: k1 + " a\n" + k2 + "\n", added: []string{fp(k1 + " a"), fp(k2)}},
		{name: "unchanged", old: "# mine\n" + k1 + " a\n", keys: []string{k1 + " a"},
			want: "# mine\n" + k1 + " a\n"},
		{name: "others kept in order, same key rewritten in place",
			old:   "# top\n" + k3 + " other\n\n" + `no-pty ` + k1 + " old\n# end\n",
			keys:  []string{k2 + " new", k1 + " a"},
			want:  "# top\n" + k3 + " other\n\n" + k1 + " a\n# end\n" + k2 + " new\n",
			added: []string{fp(k2 + " new")}, updated: []string{fp(k1 + " a")}},
		{name: "exclusive removes other keys, keeps comments",
			old:  "# top\n" + k3 + " other\n" + k1 + " a\n",
			keys: []string{k1 + " a"}, exclusive: true,
			want: "# top\n" + k1 + " a\n", removed: []string{fp(k3 + " other")}},
		{name: "duplicate of a listed key removed",
			old:  k1 + " a\n" + k1 + " again\n",
			keys: []string{k1 + " a"},
			want: k1 + " a\n", removed: []string{fp(k1+" again") + " (duplicate)"}},
		{name: "exclusive with nothing listed", old: k1 + "\n", keys: nil, exclusive: true,
			want: "", removed: []string{fp(k1)}},
		{name: "missing final newline", old: k3, keys: []string{k1},
			want: k3 + "\n" + k1 + "\n", added: []string{fp(k1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, added, updated, removed := Merge(tt.old, tt.keys, tt.exclusive)
			if got != tt.want {
				t.Errorf("content:\n%s\nwant:\n%s", got, tt.want)
			}
			if diff := cmp.Diff([][]string{tt.added, tt.updated, tt.removed}, [][]string{added, updated, removed}); diff != "" {
				t.Errorf("added, updated, removed (-want +got)\n%s", diff)
			}
			// Merging again changes nothing: the result is converged.
			again, a, u, r := Merge(got, tt.keys, tt.exclusive)
			if again != got || len(a)+len(u)+len(r) != 0 {
				t.Errorf("second merge changed: %q %v %v %v", again, a, u, r)
			}
		})
	}
}

// TestUnmerge: a key goes whatever its options and comment, as the record
// holds keys by type and data; every other line stays in its place.
func TestUnmerge(t *testing.T) {
	old := "# mine\n" + k1 + " alice\n\n" + `no-pty,from="10.0.0.1" ` + k2 + " ci\n" + k3 + "\n"
	got, removed := Unmerge(old, []string{k2, k1 + " other comment", "not a key"})
	if want := "# mine\n\n" + k3 + "\n"; got != want {
		t.Errorf("content (-want +got):\n%s", cmp.Diff(want, got))
	}
	if len(removed) != 2 || !strings.HasSuffix(removed[0], " alice") || !strings.HasSuffix(removed[1], " ci") {
		t.Errorf("removed %q, want k1 and k2 by fingerprint", removed)
	}
	if got, removed := Unmerge(k1+"\n", []string{k1}); got != "" || len(removed) != 1 {
		t.Errorf("the only key: content %q, removed %q", got, removed)
	}
	if got, _ := Unmerge(old, nil); got != old {
		t.Errorf("removing no key changed the file:\n%s", got)
	}
}
