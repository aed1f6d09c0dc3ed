package edit

import (
	"testing"

	"tend/internal/spec"
)

const sshd = `# sshd_config of the package
Port 22
#PermitRootLogin prohibit-password
PasswordAuthentication yes
Match User backup
    ForceCommand internal-sftp
`

func TestBlockWant(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    spec.Block
		in   string
		want string
	}{
		{"appended at the end", spec.Block{Content: "X11Forwarding no\n"}, sshd,
			sshd + "# BEGIN tend block hard\nX11Forwarding no\n# END tend block hard\n"},
		{"before the first Match, where sshd reads global options",
			spec.Block{Content: "X11Forwarding no\n", InsertBefore: `^Match\s`}, sshd,
			"# sshd_config of the package\nPort 22\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\n" +
				"# BEGIN tend block hard\nX11Forwarding no\n# END tend block hard\nMatch User backup\n    ForceCommand internal-sftp\n"},
		{"after the last match", spec.Block{Content: "a\n", InsertAfter: `^Port`}, "Port 22\nx\n",
			"Port 22\n# BEGIN tend block hard\na\n# END tend block hard\nx\n"},
		{"an existing block is replaced where it is", spec.Block{Content: "new\n", InsertBefore: "^x"},
			"a\n# BEGIN tend block hard\nold\nolder\n# END tend block hard\nx\n",
			"a\n# BEGIN tend block hard\nnew\n# END tend block hard\nx\n"},
		{"own marker", spec.Block{Content: "v\n", Marker: "; {mark} ansible-style"}, "[s]\n",
			"[s]\n; BEGIN ansible-style\nv\n; END ansible-style\n"},
		{"a BEGIN without END is not a block", spec.Block{Content: "v\n"}, "# BEGIN tend block hard\nkeep\n",
			"# BEGIN tend block hard\nkeep\n# BEGIN tend block hard\nv\n# END tend block hard\n"},
		{"a last line without newline", spec.Block{Content: "v"}, "a",
			"a\n# BEGIN tend block hard\nv\n# END tend block hard\n"},
	} {
		b := &Block{Name: "hard", S: &tc.s}
		got, err := b.want(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v\n%s\nwant\n%s", tc.name, err, got, tc.want)
		}
		// Idempotent: the block in place is wanted as it is.
		if again, _ := b.want(got); again != got {
			t.Errorf("%s: a second pass changes the file:\n%s", tc.name, again)
		}
	}
}

func TestLineWant(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    spec.Line
		in   string
		want string
	}{
		{"the commented setting replaced", spec.Line{Match: `^#?PermitRootLogin\s`, Text: "PermitRootLogin no"}, sshd,
			"# sshd_config of the package\nPort 22\nPermitRootLogin no\nPasswordAuthentication yes\nMatch User backup\n    ForceCommand internal-sftp\n"},
		{"the last match kept, the others removed", spec.Line{Match: `^Port\s`, Text: "Port 2222"}, "Port 22\nx\nPort 23\n",
			"x\nPort 2222\n"},
		{"added at the end", spec.Line{Match: `^UseDNS\s`, Text: "UseDNS no"}, "a\n", "a\nUseDNS no\n"},
		{"added after the last match of insert_after", spec.Line{Match: `^b=`, Text: "b=1", InsertAfter: `^\[main\]`}, "[main]\na=1\n[other]\n",
			"[main]\nb=1\na=1\n[other]\n"},
		{"into an empty file", spec.Line{Match: `^a=`, Text: "a=1"}, "", "a=1\n"},
	} {
		l := &Line{Name: "x", S: &tc.s}
		got, err := l.want(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v\n%q\nwant\n%q", tc.name, err, got, tc.want)
		}
		if again, _ := l.want(got); again != got {
			t.Errorf("%s: a second pass changes the file: %q", tc.name, again)
		}
	}
}
