package account

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/spec"
)

func TestParsePasswd(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Passwd
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"entries", "root:x:0:0:root:/root:/bin/bash\n# comment\n\nalice:x:1000:1001:Alice,,,:/home/alice:/bin/sh\n+nis\n",
			[]Passwd{{"root", 0, 0, "/root", "/bin/bash"}, {"alice", 1000, 1001, "/home/alice", "/bin/sh"}}, false},
		{"no final newline", "a:x:1:2::/:", []Passwd{{"a", 1, 2, "/", ""}}, false},
		{"short line", "root:x:0:0\n", nil, true},
		{"bad uid", "root:x:zero:0:root:/root:/bin/bash\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePasswd([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseGroupAndMembership(t *testing.T) {
	db := &DB{}
	var err error
	db.Groups, err = ParseGroup([]byte("root:x:0:\nsudo:x:27:alice,bob\nweb:x:33: bob , alice\nalice:x:1001:\nempty:x:5:,\n"))
	if err != nil {
		t.Fatal(err)
	}
	db.Users, _ = ParsePasswd([]byte("alice:x:1000:1001::/home/alice:/bin/bash\n"))
	tests := []struct {
		user string
		want []string
	}{
		{"alice", []string{"sudo", "web"}},
		{"bob", []string{"sudo", "web"}},
		{"carol", nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, db.MemberOf(tt.user)); diff != "" {
				t.Errorf("MemberOf (-want +got)\n%s", diff)
			}
		})
	}
	if got := db.GroupName(1001); got != "alice" {
		t.Errorf("GroupName(1001) = %q", got)
	}
	if got := db.GroupName(4242); got != "4242" {
		t.Errorf("GroupName(4242) = %q", got)
	}
	if got := db.GIDs("alice"); !cmp.Equal(got, []uint32{27, 33}) {
		t.Errorf("GIDs(alice) = %v", got)
	}
	if g := db.Group("empty"); g == nil || len(g.Members) != 0 {
		t.Errorf("group empty: %+v", g)
	}
	if _, err := ParseGroup([]byte("x:1:2\n")); err == nil {
		t.Error("a group line with 3 fields parsed")
	}
}

func TestNewUserDefaults(t *testing.T) {
	u, err := NewUser("alice", &spec.User{Groups: []string{"web", "sudo", "web"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &User{Name: "alice", Group: "alice", Groups: []string{"sudo", "web"}, Home: "/home/alice", Shell: "/bin/bash", StateDir: DefaultStateDir}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestHomeMode(t *testing.T) {
	tests := []struct {
		defs string
		want os.FileMode
	}{
		{"", 0o755},
		{"UMASK\t\t022\n", 0o755},
		{"UMASK 027\n", 0o750},
		{"UMASK 022\nHOME_MODE 0700\n", 0o700},
		{"#HOME_MODE 0700\nUMASK 077\n", 0o700},
		{"HOME_MODE nonsense\n", 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.defs, func(t *testing.T) {
			if got := HomeMode([]byte(tt.defs)); got != tt.want {
				t.Errorf("HomeMode = %o, want %o", got, tt.want)
			}
		})
	}
}
