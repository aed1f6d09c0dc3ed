package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Test keys, generated for these tests only.
var (
	aliceKey = "AGE-SECRET-KEY-1SMLHZUX4H45C4S26EUM7SWK7CKYTYA2YLQ7G982XNUVGY3YSVWHQ8E7QCP"
	alicePub = "age1yevtsdt90a54lmeva0jrksrem449u7wenay2y6spx684mk3gfuaq4p5jq2"
	bobKey   = "AGE-SECRET-KEY-17CUFYUZQL7XNYKH8CQ987CEUHSJY5T3PANRYN2ZP7SDZ3SV93FVQUAUENC"
	bobPub   = "age1z847lu3hlzspr928thngutetxkrew6rdc22zkz3e2r9z8qn59cusvts93x"
	carolKey = "AGE-SECRET-KEY-10T0DJVAHVS0C6EP85KU6065WMTKL5XL0RZSFXDEXWV3E7PMPSAAQYMK6YY"
	carolPub = "age1hjp3zkutfpfrhdwwfnfs4tj87s53xz4yyertp8hpr36ecf3t7u3sx5dnhn"
)

func ids(t testing.TB, keys ...string) []age.Identity {
	t.Helper()
	var out []age.Identity
	for _, k := range keys {
		id, err := age.ParseX25519Identity(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// newFile returns a file for environment production, encrypted to alice and
// bob, holding values.
func newFile(t testing.TB, values map[string]string) *File {
	t.Helper()
	f, err := New("secrets/production.yaml", []Recipient{{Key: alicePub, Label: "alice"}, {Key: bobPub, Label: "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sortedKeys(values) {
		if err := f.Set(n, NewValue(values[n])); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func reveal(m map[string]Value) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v.Reveal()
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	want := map[string]string{
		"vault_db_password": "p@ss: word #1",
		"vault_empty":       "",
		"vault_multi":       "line1\nline2\n",
		"vault_unicode":     "clé ☃",
	}
	f := newFile(t, want)
	data := f.Marshal()
	g, err := Parse("secrets/production.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Marshal(), data) {
		t.Errorf("Marshal(Parse(x)) != x:\n%s\n---\n%s", g.Marshal(), data)
	}
	for _, key := range []string{aliceKey, bobKey} {
		got, err := g.Decrypt(ids(t, key))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, reveal(got)); d != "" {
			t.Errorf("decrypted values (-want +got):\n%s", d)
		}
	}
	// One line per secret, sorted, recipients with their labels.
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	wantPrefixes := []string{"# tend secrets: environment production", "recipients:", "  - " + alicePub + "  # alice",
		"  - " + bobPub + "  # bob", "secrets:", "  vault_db_password: YWdl", "  vault_empty: YWdl", "  vault_multi: YWdl", "  vault_unicode: YWdl"}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("file has %d lines, want %d:\n%s", len(lines), len(wantPrefixes), data)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], p)
		}
	}
	v, err := g.DecryptOne(ids(t, bobKey), "vault_multi")
	if err != nil || v.Reveal() != want["vault_multi"] {
		t.Errorf("DecryptOne = %q, %v", v.Reveal(), err)
	}
}

// An update re-encrypts only what changed: every other line stays identical,
// so one changed value is one changed line in git.
func TestUpdateChangesOnlyChangedLines(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "1", "vault_b": "2", "vault_c": "3"})
	before := strings.Split(string(f.Marshal()), "\n")
	old, err := f.Decrypt(ids(t, aliceKey))
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]Value{"vault_a": NewValue("1"), "vault_b": NewValue("two"), "vault_d": NewValue("4")}
	c, err := f.Update(old, next)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Changes{Added: []string{"vault_d"}, Changed: []string{"vault_b"}, Removed: []string{"vault_c"}}, c); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	after := strings.Split(string(f.Marshal()), "\n")
	has := func(lines []string, l string) bool {
		for _, x := range lines {
			if x == l {
				return true
			}
		}
		return false
	}
	var kept, gone int
	for _, l := range before {
		if has(after, l) {
			kept++
		} else {
			gone++
			if !strings.HasPrefix(l, "  vault_b:") && !strings.HasPrefix(l, "  vault_c:") {
				t.Errorf("line changed but its value did not: %q", l)
			}
		}
	}
	if gone != 2 {
		t.Errorf("%d lines changed or removed, want 2 (vault_b, vault_c)", gone)
	}
	got, err := f.Decrypt(ids(t, bobKey))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"vault_a": "1", "vault_b": "two", "vault_d": "4"}, reveal(got)); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}
	// No change at all: nothing re-encrypted.
	same := f.Marshal()
	c, err = f.Update(got, got)
	if err != nil || !c.Empty() || !bytes.Equal(same, f.Marshal()) {
		t.Errorf("identity update changed something: %+v %v", c, err)
	}
}

func TestRekey(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "alpha", "vault_b": "beta"})
	// alice adds carol and removes bob.
	if err := f.Rekey(ids(t, aliceKey), RecipientChange{Add: []Recipient{{Key: carolPub, Label: "carol"}}, Remove: []string{bobPub}}); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(f.Path, f.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Decrypt(ids(t, carolKey))
	if err != nil {
		t.Fatalf("new recipient cannot decrypt: %v", err)
	}
	if d := cmp.Diff(map[string]string{"vault_a": "alpha", "vault_b": "beta"}, reveal(got)); d != "" {
		t.Error(d)
	}
	if _, err := g.Decrypt(ids(t, bobKey)); err == nil || !strings.Contains(err.Error(), "is not a recipient") {
		t.Errorf("removed key: err = %v", err)
	}
	// Even if bob's key is put back in the list by hand, the new ciphertexts
	// were not encrypted to it.
	g.Recipients = append(g.Recipients, Recipient{Key: bobPub})
	if _, err := g.Decrypt(ids(t, bobKey)); !errors.Is(err, ErrRecipientsChanged) {
		t.Errorf("removed key re-listed: err = %v", err)
	}
	if err := f.Rekey(ids(t, aliceKey), RecipientChange{Remove: []string{alicePub, carolPub}}); err == nil || !strings.Contains(err.Error(), "nobody can open") {
		t.Errorf("removing every recipient: err = %v", err)
	}
}

func TestStagingKeyCannotOpenProduction(t *testing.T) {
	prod := newFile(t, map[string]string{"vault_backup_key": "prod-only"})
	staging, err := New("secrets/staging.yaml", []Recipient{{Key: carolPub}})
	if err != nil {
		t.Fatal(err)
	}
	if err := staging.Set("vault_backup_key", NewValue("staging")); err != nil {
		t.Fatal(err)
	}
	if _, err := staging.Decrypt(ids(t, carolKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Decrypt(ids(t, carolKey)); err == nil {
		t.Fatal("the staging key opened production")
	}
	// Copying the ciphertext line into the staging file does not help either.
	staging.Secrets[0].Ciphertext = prod.Secrets[0].Ciphertext
	staging.Recipients = prod.Recipients
	staging.Recipients = append(staging.Recipients, Recipient{Key: carolPub})
	if _, err := staging.Decrypt(ids(t, carolKey)); err == nil {
		t.Fatal("the staging key opened a production ciphertext")
	}
}

// mutate returns a copy of f's text with the ciphertext of secret i changed by
// fn (on the binary age file).
func mutate(t *testing.T, f *File, i int, fn func([]byte) []byte) []byte {
	t.Helper()
	g := *f
	g.Secrets = append([]Entry(nil), f.Secrets...)
	raw, err := base64.StdEncoding.DecodeString(g.Secrets[i].Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	g.Secrets[i].Ciphertext = base64.StdEncoding.EncodeToString(fn(raw))
	return g.Marshal()
}

func flipAt(pos func([]byte) int) func([]byte) []byte {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		b[pos(b)] ^= 0x01
		return b
	}
}

// TestBadFiles checks that each kind of damage gives a clear error with
// file:line, against testdata/errors.golden.
func TestBadFiles(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "alpha", "vault_b": "beta"})
	good := string(f.Marshal())
	lines := strings.Split(good, "\n")
	lineB := lines[6] // "  vault_b: ..."
	cases := []struct {
		name string
		text string
		key  string
	}{
		{"wrong key", good, carolKey},
		{"tampered payload", string(mutate(t, f, 0, flipAt(func(b []byte) int { return len(b) - 1 }))), aliceKey},
		{"tampered header mac", string(mutate(t, f, 0, flipAt(func(b []byte) int { return bytes.Index(b, []byte("\n--- ")) + 6 }))), aliceKey},
		{"tampered stanza", string(mutate(t, f, 0, func(b []byte) []byte {
			// Change the first character of the first stanza's body (the
			// wrapped file key) to another valid base64 character.
			b = bytes.Clone(b)
			i := bytes.Index(b, []byte("-> X25519 "))
			i += bytes.IndexByte(b[i:], '\n') + 1
			b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
			return b
		})), aliceKey},
		{"value moved to another name", moveValue(t, f), aliceKey},
		{"truncated file", good[:len(good)-40], aliceKey},
		{"truncated value", string(mutate(t, f, 1, func(b []byte) []byte { return b[:len(b)-18] })), aliceKey},
		{"bad base64", strings.Replace(good, "  vault_b: YWdl", "  vault_b: YW!l", 1), aliceKey},
		{"name without vault_", good + "  db_password: " + strings.SplitN(lineB, ": ", 2)[1] + "\n", aliceKey},
		{"duplicate name", good + lineB + "\n", aliceKey},
		{"unknown key", good + "sops:\n  mac: x\n", aliceKey},
		{"bad recipient", strings.Replace(good, "  - "+bobPub, "  - age1nope", 1), aliceKey},
		{"no recipients", "secrets: {}\n", aliceKey},
		{"empty recipients", "recipients: []\nsecrets: {}\n", aliceKey},
		{"tab indent", strings.Replace(good, "  vault_a", "\tvault_a", 1), aliceKey},
		{"not an age value", "recipients:\n  - " + alicePub + "\nsecrets:\n  vault_x: aGVsbG8gd29ybGQ=\n", aliceKey},
		{"empty value", "recipients:\n  - " + alicePub + "\nsecrets:\n  vault_x:\n", aliceKey},
	}
	var golden strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse("secrets/production.yaml", []byte(tc.text))
			if err == nil {
				_, err = g.Decrypt(ids(t, tc.key))
			}
			if err == nil {
				t.Fatalf("no error")
			}
			for _, v := range []string{"alpha", "beta"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error shows a value: %v", err)
				}
			}
			golden.WriteString("== " + tc.name + "\n" + err.Error() + "\n")
		})
	}
	checkGolden(t, "testdata/errors.golden", golden.String())
}

// moveValue returns f's text with vault_a's ciphertext put under vault_b.
func moveValue(t *testing.T, f *File) string {
	g := *f
	g.Secrets = append([]Entry(nil), f.Secrets...)
	g.Secrets[1].Ciphertext = f.Secrets[0].Ciphertext
	return string(g.Marshal())
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got; go test -update to accept):\n%s", path, d)
	}
}

func TestSaveAtomicAndLoad(t *testing.T) {
	dir := t.TempDir()
	path, err := Path(dir, "production")
	if err != nil {
		t.Fatal(err)
	}
	f := newFile(t, map[string]string{"vault_a": "alpha"})
	f.Path = path
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after save = %v, %v; want 0640 kept", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("secrets/ holds %d entries, want only the file (no temporary left)", len(entries))
	}
	g, err := Load(path)
	if err != nil || !cmp.Equal(g.Names(), []string{"vault_a"}) || g.Env != "production" {
		t.Fatalf("Load = %+v, %v", g, err)
	}
	if _, err := Load(filepath.Join(dir, "secrets", "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	for _, env := range []string{"../etc", "", "a/b", ".hidden"} {
		if _, err := Path(dir, env); err == nil {
			t.Errorf("Path(%q) accepted", env)
		}
	}
}

func TestParseView(t *testing.T) {
	values := map[string]Value{}
	for i, s := range []string{"", "plain", "true", "123", "~", "null", "- dash", "# hash", "a: b", "  leading", "trailing  ",
		"line1\nline2", "line1\nline2\n", "\n\nx\n\n", "tab\there", "quote \" ' `", "clé ☃", "\r\n", "\x00bin", "{flow}", "[x]", "*alias", "&anchor", "!tag", "%", "@", "'"} {
		values[fmt.Sprintf("vault_v%02d", i)] = NewValue(s)
	}
	view, err := RenderView("production", values)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseView(view)
	if err != nil {
		t.Fatalf("%v\n%s", err, view)
	}
	if d := cmp.Diff(reveal(values), reveal(got)); d != "" {
		t.Errorf("view round trip (-want +got):\n%s\n%s", d, view)
	}
	bad := []struct{ text, want string }{
		{"vault_a: x\nvault_a: y\n", "line 2: vault_a is listed twice (also line 1)"},
		{"vault_a: x\ndb: y\n", `line 2: secret name "db" does not start with "vault_"`},
		{"vault_a: [x]\n", "line 1: vault_a: the value must be a string"},
		{"vault_a:\n", "line 1: vault_a has no value"},
		{"vault_a: x\n  bad: indent: here\n", "line 2: YAML syntax error"},
		{"- a\n", "line 1: expected entries"},
	}
	for _, tc := range bad {
		_, err := ParseView([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseView(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
	if got, err := ParseView([]byte("# only comments\n\n")); err != nil || len(got) != 0 {
		t.Errorf("empty view = %v, %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	file := newFile(f, map[string]string{"vault_a": "alpha", "vault_b": "beta"})
	f.Add(file.Marshal())
	f.Add([]byte("recipients: []\nsecrets: {}\n"))
	f.Add([]byte("recipients:\n  - " + alicePub + " # x\nsecrets:\n  vault_x: YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n"))
	f.Add([]byte("secrets:\n\tvault_x: :\n#\r\n"))
	id := ids(f, aliceKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse("secrets/fuzz.yaml", data)
		if err != nil {
			if g != nil {
				t.Fatal("file and error")
			}
			return
		}
		// What parses re-serialises to something that parses to the same.
		h, err := Parse("secrets/fuzz.yaml", g.Marshal())
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, g.Marshal())
		}
		if !cmp.Equal(g.Names(), h.Names()) {
			t.Fatalf("names changed: %v -> %v", g.Names(), h.Names())
		}
		g.Decrypt(id) // must not panic
	})
}
