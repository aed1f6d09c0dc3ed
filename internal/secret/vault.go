package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"tend/internal/hint"
)

// DecryptAnsibleVault decrypts an ansible-vault file (format 1.1 or 1.2,
// AES256: PBKDF2-SHA256 with 10000 iterations, AES-256-CTR, HMAC-SHA256) with
// password, natively, and returns the plaintext. The caller must treat the
// result as secret.
func DecryptAnsibleVault(data []byte, password []byte) ([]byte, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	header, body, _ := strings.Cut(text, "\n")
	fields := strings.Split(strings.TrimSpace(header), ";")
	if len(fields) < 3 || fields[0] != "$ANSIBLE_VAULT" {
		return nil, errors.New("not an ansible-vault file (no $ANSIBLE_VAULT header)")
	}
	if fields[1] != "1.1" && fields[1] != "1.2" {
		return nil, fmt.Errorf("ansible-vault format %s is not supported (only 1.1 and 1.2)", fields[1])
	}
	if strings.TrimSpace(fields[2]) != "AES256" {
		return nil, fmt.Errorf("ansible-vault cipher %s is not supported (only AES256)", fields[2])
	}
	outer, err := hex.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, errors.New("ansible-vault body is not hexadecimal (damaged file)")
	}
	parts := strings.Split(strings.TrimSpace(string(outer)), "\n")
	if len(parts) != 3 {
		return nil, errors.New("ansible-vault body does not hold salt, HMAC and ciphertext (damaged file)")
	}
	var salt, mac, ct []byte
	for i, p := range []*[]byte{&salt, &mac, &ct} {
		if *p, err = hex.DecodeString(strings.TrimSpace(parts[i])); err != nil {
			return nil, errors.New("ansible-vault body is not hexadecimal (damaged file)")
		}
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("ansible-vault ciphertext has a bad length (damaged or truncated file)")
	}
	km, err := pbkdf2.Key(sha256.New, string(password), salt, 10000, 2*32+aes.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("ansible-vault key derivation: %w", err)
	}
	defer clear(km)
	h := hmac.New(sha256.New, km[32:64])
	h.Write(ct)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, hint.New("wrong ansible-vault password, or the file was damaged (HMAC check failed)",
			"give the password the repository used with --password-file FILE or on stdin")
	}
	block, err := aes.NewCipher(km[:32])
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCTR(block, km[64:]).XORKeyStream(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		clear(pt)
		return nil, errors.New("ansible-vault plaintext has bad padding (damaged file)")
	}
	return pt[:len(pt)-pad], nil
}

// VaultValues reads the YAML inside an ansible-vault file, a mapping of names
// to scalar values, as secrets. Names must start with vault_; with prefix,
// names that do not get vault_ prepended instead of being refused. Errors list
// names, never values.
func VaultValues(plaintext []byte, prefix bool) (map[string]Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(plaintext, &doc); err != nil {
		return nil, errors.New("the decrypted ansible-vault content is not YAML")
	}
	if len(doc.Content) == 0 {
		return map[string]Value{}, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, errors.New("the decrypted ansible-vault content is not a mapping of names to values")
	}
	values := map[string]Value{}
	var unprefixed, nonScalar, invalid []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := k.Value
		if !strings.HasPrefix(name, Prefix) {
			if !prefix {
				unprefixed = append(unprefixed, name)
				continue
			}
			name = Prefix + name
		}
		if err := CheckName(name); err != nil {
			invalid = append(invalid, name)
			continue
		}
		if v.Kind != yaml.ScalarNode {
			nonScalar = append(nonScalar, name)
			continue
		}
		if _, dup := values[name]; dup {
			invalid = append(invalid, name+" (twice)")
			continue
		}
		values[name] = NewValue(v.Value)
	}
	var errs []error
	if len(unprefixed) > 0 {
		errs = append(errs, hint.Wrap(fmt.Errorf("names without the vault_ prefix: %s", strings.Join(unprefixed, ", ")),
			"rename them in the vault, or import with --prefix to prepend vault_"))
	}
	if len(invalid) > 0 {
		errs = append(errs, fmt.Errorf("invalid secret names (use letters, digits and underscores): %s", strings.Join(invalid, ", ")))
	}
	if len(nonScalar) > 0 {
		slices.Sort(nonScalar)
		errs = append(errs, fmt.Errorf("values that are lists or mappings, not strings: %s", strings.Join(nonScalar, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return values, nil
}
