package secret

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/testenv"
)

// vaultPassword opens testdata/vault-1.1.yml and vault-1.2.yml, made by
// Debian's ansible-vault 2.14 from the content of wantVault.
const vaultPassword = "correct horse battery staple"

var wantVault = map[string]string{
	"vault_db_password": "s3cr3t: with colon",
	"vault_smtp_token":  "abc123XYZ",
	"vault_multi":       "line one\nline two\n",
	"vault_number":      "12345",
}

const vaultYAML = `vault_db_password: "s3cr3t: with colon"
vault_smtp_token: abc123XYZ
vault_multi: |
  line one
  line two
vault_number: 12345
`

func importVault(t *testing.T, data []byte, password string, prefix bool) (map[string]string, error) {
	t.Helper()
	pt, err := DecryptAnsibleVault(data, []byte(password))
	if err != nil {
		return nil, err
	}
	v, err := VaultValues(pt, prefix)
	if err != nil {
		return nil, err
	}
	return reveal(v), nil
}

func TestAnsibleVaultFixtures(t *testing.T) {
	for _, name := range []string{"vault-1.1.yml", "vault-1.2.yml"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := importVault(t, data, vaultPassword, false)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantVault, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			_, err = DecryptAnsibleVault(data, []byte("wrong"))
			if err == nil || !strings.Contains(err.Error(), "wrong ansible-vault password") {
				t.Errorf("wrong password: err = %v", err)
			}
			lines := strings.Split(string(data), "\n")
			_, err = DecryptAnsibleVault([]byte(strings.Join(lines[:len(lines)/2], "\n")), []byte(vaultPassword))
			if err == nil {
				t.Errorf("truncated vault: no error")
			}
		})
	}
}

// TestAnsibleVaultReal encrypts with the real ansible-vault and imports.
func TestAnsibleVaultReal(t *testing.T) {
	bin, err := exec.LookPath("ansible-vault")
	testenv.Need(t, "ansible-vault (apt-get install ansible)", err)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("  another pass phrase \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"1.1", []string{"--vault-password-file", pw}},
		{"1.2", []string{"--vault-id", "prod@" + pw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "vault-"+tc.name+".yml")
			if err := os.WriteFile(file, []byte(vaultYAML+"smtp_user: mailer\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append([]string{"encrypt"}, append(tc.args, file)...)...)
			cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+dir, "HOME="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ansible-vault: %v\n%s", err, out)
			}
			data, _ := os.ReadFile(file)
			if !strings.HasPrefix(string(data), "$ANSIBLE_VAULT;"+tc.name+";AES256") {
				t.Fatalf("unexpected header: %.40q", data)
			}
			// ansible strips whitespace around a password file's content.
			_, err := importVault(t, data, "another pass phrase", false)
			if err == nil || !strings.Contains(err.Error(), "names without the vault_ prefix: smtp_user") {
				t.Errorf("unprefixed name: err = %v", err)
			}
			got, err := importVault(t, data, "another pass phrase", true)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"vault_smtp_user": "mailer"}
			for k, v := range wantVault {
				want[k] = v
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestVaultValuesErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"a: 1\nvault_b: 2\nc: 3\n", "names without the vault_ prefix: a, c"},
		{"vault_a:\n  nested: x\n", "values that are lists or mappings, not strings: vault_a"},
		{"vault_a-b: x\n", "invalid secret names"},
		{"- x\n", "not a mapping"},
	}
	for _, tt := range tests {
		_, err := VaultValues([]byte(tt.yaml), false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("VaultValues(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), ": 1") || strings.Contains(err.Error(), "nested")) {
			t.Errorf("error shows a value: %v", err)
		}
	}
	if _, err := DecryptAnsibleVault([]byte("hello"), nil); err == nil || !strings.Contains(err.Error(), "not an ansible-vault file") {
		t.Errorf("not a vault: err = %v", err)
	}
}
