package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// handEdit returns f's text with the recipients list changed as a repository
// writer without a key would: add appends keys, replace swaps old for new.
func handEdit(t *testing.T, f *File, add []string, replace map[string]string) *File {
	t.Helper()
	text := string(f.Marshal())
	for old, new := range replace {
		text = strings.Replace(text, "  - "+old, "  - "+new, 1)
	}
	for _, k := range add {
		text = strings.Replace(text, "secrets:\n", "  - "+k+"  # totally alice's laptop\nsecrets:\n", 1)
	}
	g, err := Parse(f.Path, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRecipientAddedByHand: a key added to the list by editing the file is
// refused by every path that reads or encrypts, with a key and without.
func TestRecipientAddedByHand(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "alpha", "vault_b": "beta"})
	g := handEdit(t, f, []string{carolPub}, nil)
	want := "the recipients of secrets/production.yaml were changed without a key: the file lists 3 recipients, but vault_a (line 7) was encrypted to 2, vault_b (line 8) was encrypted to 2"
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrRecipientsChanged) || err.Error() != want {
			t.Errorf("%s: err = %v\nwant %s", what, err, want)
		}
	}
	check("CheckRecipients", g.CheckRecipients())
	_, err := g.Verify(nil)
	check("Verify without a key", err)
	_, err = g.Verify(ids(t, aliceKey))
	check("Verify with a key", err)
	_, err = g.Decrypt(ids(t, aliceKey))
	check("Decrypt", err)
	_, err = g.DecryptOne(ids(t, aliceKey), "vault_a")
	check("DecryptOne", err)
	check("Rekey", g.Rekey(ids(t, aliceKey), RecipientChange{Add: []Recipient{{Key: carolPub}}}))

	dir := t.TempDir()
	g.Path = filepath.Join(dir, "production.yaml")
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(g.Path)
	if _, err := g.Put(nil, map[string]Value{"vault_c": NewValue("gamma")}, true); !errors.Is(err, ErrRecipientsChanged) {
		t.Errorf("Put: err = %v", err)
	}
	if after, _ := os.ReadFile(g.Path); string(after) != string(before) {
		t.Error("Put wrote the file although it refused")
	}
	if g.Has("vault_c") {
		t.Error("Put encrypted a value to the hand-edited list")
	}
}

// TestRecipientReplacedByHand: swapping a key for another keeps the count,
// so only a key sees it. The keyless check passing here is the documented
// limit of validate without a key.
func TestRecipientReplacedByHand(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "alpha"})
	g := handEdit(t, f, nil, map[string]string{bobPub: carolPub})
	if err := g.CheckRecipients(); err != nil {
		t.Errorf("counting saw a swap it cannot see: %v", err)
	}
	if v, err := g.Verify(nil); err != nil || v.Keyed {
		t.Errorf("Verify(nil) = %+v, %v", v, err)
	}
	want := "the recipients of secrets/production.yaml were changed without a key: vault_a (line 6) was encrypted to another list of recipients than the file's"
	for name, err := range map[string]error{
		"Verify":     second(g.Verify(ids(t, aliceKey))),
		"Decrypt":    second(g.Decrypt(ids(t, aliceKey))),
		"DecryptOne": second(g.DecryptOne(ids(t, aliceKey), "vault_a")),
	} {
		if !errors.Is(err, ErrRecipientsChanged) || err.Error() != want {
			t.Errorf("%s: err = %v\nwant %s", name, err, want)
		}
	}
	// Relabelling is not a change of who can read.
	h := handEdit(t, f, nil, map[string]string{bobPub + "  # bob": bobPub + "  # robert"})
	if _, err := h.Decrypt(ids(t, aliceKey)); err != nil {
		t.Errorf("a changed label: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestRekeyAuthenticates: recipients changed through Rekey verify, with and
// without a key; Confirm binds the values to a list changed by hand.
func TestRekeyAuthenticates(t *testing.T) {
	f := newFile(t, map[string]string{"vault_a": "alpha", "vault_b": "beta"})
	if err := f.Rekey(ids(t, aliceKey), RecipientChange{Add: []Recipient{{Key: carolPub, Label: "carol"}}}); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(f.Path, f.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{aliceKey, bobKey, carolKey} {
		if v, err := g.Verify(ids(t, key)); err != nil || !v.Keyed || len(v.Legacy) != 0 {
			t.Errorf("Verify = %+v, %v", v, err)
		}
	}
	if err := g.CheckRecipients(); err != nil {
		t.Error(err)
	}

	h := handEdit(t, g, nil, map[string]string{carolPub: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"})
	if err := h.Rekey(ids(t, aliceKey), RecipientChange{Confirm: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Verify(ids(t, bobKey)); err != nil {
		t.Errorf("after --confirm-recipients: %v", err)
	}
}

// TestLegacyFile: a file written by the previous tend (testdata/legacy-v1.yaml,
// values bound to names only) still opens; Verify names its values as
// vouching for no list; Confirm binds them; a key added to it by hand is
// still caught by counting.
func TestLegacyFile(t *testing.T) {
	data, err := os.ReadFile("testdata/legacy-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("secrets/production.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Decrypt(ids(t, bobKey))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"vault_a": "alpha", "vault_b": "beta"}, reveal(got)); d != "" {
		t.Error(d)
	}
	v, err := f.Verify(ids(t, aliceKey))
	if err != nil || !cmp.Equal(v.Legacy, []string{"vault_a", "vault_b"}) {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if n := v.Note(f); !strings.Contains(n, "2 of 2 values (vault_a, vault_b) were written by an older tend") ||
		!strings.Contains(n, "tend secret rekey production --confirm-recipients") {
		t.Errorf("note: %s", n)
	}
	if err := handEdit(t, f, []string{carolPub}, nil).CheckRecipients(); !errors.Is(err, ErrRecipientsChanged) {
		t.Errorf("key added to a legacy file: %v", err)
	}
	// A new value is bound; the old ones still vouch for nothing.
	if err := f.Set("vault_c", NewValue("gamma")); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Verify(ids(t, aliceKey)); len(v.Legacy) != 2 {
		t.Errorf("Legacy = %v", v.Legacy)
	}
	if err := f.Rekey(ids(t, aliceKey), RecipientChange{Confirm: true}); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Verify(ids(t, aliceKey)); err != nil || len(v.Legacy) != 0 || v.Note(f) != "" {
		t.Errorf("after Confirm: %+v, %v", v, err)
	}
}
