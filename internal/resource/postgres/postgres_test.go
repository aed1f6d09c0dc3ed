package postgres

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/spec"
)

// realVerifier was made by PostgreSQL 15 itself (CREATE ROLE ... PASSWORD)
// for the password pa'ss\\word (two backslashes).
const realVerifier = "SCRAM-SHA-256$4096:eQyBPqcLNigRD6TtnY45XA==$dkXxhBzKdkjadNdy2Y20QOLn+4q7RGZuuXRK0UAGSRw=:gzDYkZeQYpSlBKPddsDVewdAGmTfAtiEB4IDdlJP09s="

func TestPasswordMatches(t *testing.T) {
	mine, err := scramVerifier("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stored, password, role string
		kind                         string
		ok                           bool
	}{
		{"postgres's verifier, right password", realVerifier, `pa'ss\\word`, "x", kindSCRAM, true},
		{"postgres's verifier, wrong password", realVerifier, `pa'ss\word`, "x", kindSCRAM, false},
		{"our verifier", mine, "s3cret", "x", kindSCRAM, true},
		{"our verifier, wrong password", mine, "s3cret ", "x", kindSCRAM, false},
		// md5 of "secret" + "app", as PostgreSQL stores md5 passwords.
		{"md5", "md5" + md5hex("secretapp"), "secret", "app", kindMD5, true},
		{"md5 of another role", "md5" + md5hex("secretapp"), "secret", "web", kindMD5, false},
		{"no password", "", "secret", "app", kindNone, false},
		{"garbage", "SCRAM-SHA-256$x", "secret", "app", kindOther, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, ok := passwordMatches(tc.stored, tc.password, tc.role)
			if kind != tc.kind || ok != tc.ok {
				t.Errorf("passwordMatches = %q, %v; want %q, %v", kind, ok, tc.kind, tc.ok)
			}
		})
	}
}

// realUnicodeVerifier was made by PostgreSQL 15 (CREATE ROLE ... PASSWORD)
// for "pa\u0308sswo\u0308rd": ä and ö written as a letter and a combining
// diaeresis, which SASLprep composes.
const realUnicodeVerifier = "SCRAM-SHA-256$4096:jsOk4XDogT2whYbm78p1dg==$rR0fWhk5e7sFSDO6K6Tm+t6NCSIJ0eyZl/cBm12u0OA=:2JhoHGO0MfE7u56pRrexTUNEJ9k93HMw8edEC2r1O2A="

func TestUnicodeVerifier(t *testing.T) {
	iter, salt, _, _, err := parseSCRAM(realUnicodeVerifier)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"pa\u0308sswo\u0308rd", "p\u00e4ssw\u00f6rd"} {
		if got, err := verifierWithSalt(pw, salt, iter); err != nil || got != realUnicodeVerifier {
			t.Errorf("verifier of %q:\n%s\nwant (made by PostgreSQL)\n%s", pw, got, realUnicodeVerifier)
		}
	}
	if _, ok := passwordMatches(realUnicodeVerifier, "passwo\u0308rd", "x"); ok {
		t.Errorf("another password matches")
	}
}

func TestVerifierWithSalt(t *testing.T) {
	iter, salt, _, _, err := parseSCRAM(realVerifier)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifierWithSalt(`pa'ss\\word`, salt, iter)
	if err != nil {
		t.Fatal(err)
	}
	if got != realVerifier {
		t.Errorf("verifier\n%s\nwant (made by PostgreSQL)\n%s", got, realVerifier)
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, ident, literal string }{
		{"app", `"app"`, `'app'`},
		{`we"ird`, `"we""ird"`, `'we"ird'`},
		{"it's", `"it's"`, `'it''s'`},
		{`back\slash`, `"back\slash"`, `'back\slash'`},
		{"a b", `"a b"`, `'a b'`},
	} {
		if got := ident(tc.in); got != tc.ident {
			t.Errorf("ident(%q) = %s, want %s", tc.in, got, tc.ident)
		}
		if got := literal(tc.in); got != tc.literal {
			t.Errorf("literal(%q) = %s, want %s", tc.in, got, tc.literal)
		}
	}
}

func TestSettingsFile(t *testing.T) {
	values := map[string]string{"work_mem": "8MB", "search_path": `"$user", public`, "application_name": "it's"}
	got := render("main", values)
	want := "# Managed by tend (postgres_settings main): edit the repository, not this file.\n" +
		"application_name = 'it''s'\n" +
		"search_path = '\"$user\", public'\n" +
		"work_mem = '8MB'\n"
	if got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
	if diff := cmp.Diff(values, parseSettings(got)); diff != "" {
		t.Errorf("parseSettings(render) (-want +got):\n%s", diff)
	}
}

// debianHBA is the start of Debian's pg_hba.conf.
const debianHBA = `# comment
# DO NOT DISABLE!
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     peer
`

func TestSetEntry(t *testing.T) {
	a := "host\tapp\tapp\t10.0.0.0/8\tscram-sha-256\t# tend:a"
	b := "local\tall\tops\tpeer\t# tend:b"
	a2 := "host\tapp\tapp\t10.1.0.0/16\tmd5\t# tend:a"
	block := func(lines ...string) string {
		return "\n" + hbaBegin + "\n" + strings.Join(lines, "\n") + "\n" + hbaEnd + "\n"
	}
	after := func(s string) string { // Debian's file with s after the admin line
		i := strings.Index(debianHBA, "peer\n") + len("peer\n")
		return debianHBA[:i] + s + debianHBA[i:]
	}
	for _, tc := range []struct {
		name, in, label, line, want string
	}{
		{"a new block after Debian's admin line", debianHBA, "a", a, after(block(a))},
		{"appended to the block", after(block(a)), "b", b, after(block(a, b))},
		{"replaced in place", after(block(a, b)), "a", a2, after(block(a2, b))},
		{"at the top of another file", "host all all 0.0.0.0/0 reject\n", "a", a,
			hbaBegin + "\n" + a + "\n" + hbaEnd + "\n\nhost all all 0.0.0.0/0 reject\n"},
		{"an empty file", "", "a", a, hbaBegin + "\n" + a + "\n" + hbaEnd + "\n\n"},
		{"a file without a final newline", "# x", "a", a, hbaBegin + "\n" + a + "\n" + hbaEnd + "\n\n# x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := setEntry(tc.in, tc.label, tc.line)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("setEntry (-want +got):\n%s", diff)
			}
			entry, _, _ := strings.Cut(tc.line, "\t"+hbaTag)
			if e, ok := findEntry(got, tc.label); !ok || e != entry {
				t.Errorf("findEntry = %q, %v; want %q", e, ok, entry)
			}
		})
	}
	if _, ok := findEntry(debianHBA+"host all all ::1/128 md5 # tend:a\n", "a"); ok {
		t.Errorf("findEntry found an entry outside the managed block")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"role with a long name", func() error { _, err := NewRole(strings.Repeat("r", 64), &spec.PostgresRole{}); return err }()},
		{"settings restart neither allowed nor never", func() error {
			_, err := NewSettings("x", &spec.PostgresSettings{Settings: map[string]string{"work_mem": "1MB"}, Restart: "yes"})
			return err
		}()},
		{"database with NUL", func() error { _, err := NewDatabase("a\x00b", &spec.PostgresDatabase{}); return err }()},
		{"hba local with address", func() error {
			_, err := NewHBA("x", &spec.PostgresHBA{Type: "local", Database: "all", User: "all", Address: "::1/128", Method: "peer"})
			return err
		}()},
		{"hba host without address", func() error {
			_, err := NewHBA("x", &spec.PostgresHBA{Database: "all", User: "all", Method: "md5"})
			return err
		}()},
		{"hba line break", func() error {
			_, err := NewHBA("x", &spec.PostgresHBA{Type: "local", Database: "all\nlocal all all trust", User: "all", Method: "peer"})
			return err
		}()},
		{"settings with a line break", func() error {
			_, err := NewSettings("x", &spec.PostgresSettings{Settings: map[string]string{"work_mem": "1MB\nfsync = off"}})
			return err
		}()},
		{"settings label with a slash", func() error {
			_, err := NewSettings("../x", &spec.PostgresSettings{Settings: map[string]string{"work_mem": "1MB"}})
			return err
		}()},
	} {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestSameEncoding(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"UTF8", "utf-8", true}, {"UTF8", "utf8", true}, {"EUC_JP", "euc-jp", true}, {"UTF8", "LATIN1", false},
	} {
		if got := sameEncoding(tc.a, tc.b); got != tc.want {
			t.Errorf("sameEncoding(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
