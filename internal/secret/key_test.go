package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/hint"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestIdentities(t *testing.T) {
	home := t.TempDir()
	keyPath := filepath.Join(home, ".config", "tend", "age.key")
	pub, err := GenerateKey(keyPath, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := GenerateKey(keyPath, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second keygen: err = %v", err)
	}
	loose := filepath.Join(t.TempDir(), "loose.key")
	if err := os.WriteFile(loose, []byte(aliceKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantPub  []string
		wantErr  string
		wantHint string
	}{
		{"env var wins", map[string]string{"TEND_AGE_KEY": bobKey, "HOME": home}, []string{bobPub}, "", ""},
		{"env var with comments", map[string]string{"TEND_AGE_KEY": "# ci\n" + bobKey + "\n" + carolKey + "\n"}, []string{bobPub, carolPub}, "", ""},
		{"default key file", map[string]string{"HOME": home}, []string{pub}, "", ""},
		{"key file variable", map[string]string{"TEND_AGE_KEY_FILE": keyPath}, []string{pub}, "", ""},
		{"mode 0644 refused", map[string]string{"TEND_AGE_KEY_FILE": loose}, nil, "has mode 0644: group or others can read it; refusing to use it", "chmod 600 " + loose},
		{"missing key", map[string]string{"HOME": t.TempDir()}, nil, "no age key: TEND_AGE_KEY is not set and", "tend secret keygen"},
		{"no home", map[string]string{}, nil, "HOME is not set", "TEND_AGE_KEY"},
		{"bad env key", map[string]string{"TEND_AGE_KEY": "AGE-SECRET-KEY-1NOTAKEY-secretmaterial"}, nil, "TEND_AGE_KEY: line 1 is not an age X25519 identity", "tend secret keygen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Identities(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(hint.Of(err), tt.wantHint) {
					t.Fatalf("err = %v (hint %q), want %q (hint %q)", err, hint.Of(err), tt.wantErr, tt.wantHint)
				}
				if strings.Contains(err.Error(), "secretmaterial") || strings.Contains(err.Error(), "NOTAKEY") {
					t.Errorf("error shows key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantPub, PublicKeys(got)); d != "" {
				t.Error(d)
			}
		})
	}
}
