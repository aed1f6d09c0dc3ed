package cert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"tend/internal/resource"
)

// The files of one certificate, in its directory.
const (
	FullchainFile = "fullchain.pem" // the certificate then its chain, mode 0644
	KeyFile       = "privkey.pem"   // its private key, mode 0600
	ConfigFile    = "certificate.json"
	DNSFile       = "dns.json" // a dns-01 zone's credentials, mode 0600
	issuedFile    = "issued.json"
)

var (
	chainMeta = resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}
	keyMeta   = resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}
)

// placeholderOrg marks the self-signed placeholder written before the
// first real certificate exists.
const placeholderOrg = "tend placeholder"

// issued records what the installed certificate was asked for: a change
// of directory or key type means a new certificate, which the certificate
// itself does not say.
type issued struct {
	Directory string   `json:"directory"`
	KeyType   string   `json:"key_type"`
	Names     []string `json:"names"`
}

// installed is what a certificate's directory holds.
type installed struct {
	leaf        *x509.Certificate
	placeholder bool
	issued      issued
	// problem: the files are there but cannot serve (unreadable, the key
	// does not match, no certificate in the file).
	problem string
}

// readInstalled reads the certificate in dir; nil when either file is
// missing.
func readInstalled(dir string) (*installed, error) {
	chain, err := os.ReadFile(filepath.Join(dir, FullchainFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	in := &installed{}
	if data, err := os.ReadFile(filepath.Join(dir, issuedFile)); err == nil {
		_ = json.Unmarshal(data, &in.issued)
	}
	leaf, err := parseLeaf(chain)
	if err != nil {
		in.problem = err.Error()
		return in, nil
	}
	in.leaf = leaf
	in.placeholder = len(leaf.Subject.Organization) == 1 && leaf.Subject.Organization[0] == placeholderOrg &&
		bytes.Equal(leaf.RawIssuer, leaf.RawSubject)
	if err := keyMatches(leaf, key); err != nil {
		in.problem = err.Error()
	}
	return in, nil
}

func parseLeaf(chain []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(chain)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", FullchainFile)
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FullchainFile, err)
	}
	return leaf, nil
}

// keyMatches checks that the PEM private key is the certificate's.
func keyMatches(leaf *x509.Certificate, keyPEM []byte) error {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return fmt.Errorf("%s holds no PEM key", KeyFile)
	}
	var key crypto.Signer
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		var k any
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		if s, ok := k.(crypto.Signer); ok {
			key = s
		} else if err == nil {
			err = fmt.Errorf("a %T key", k)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", KeyFile, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(leaf.PublicKey) {
		return fmt.Errorf("%s is not the key of %s", KeyFile, FullchainFile)
	}
	return nil
}

// placeholder returns a self-signed certificate and key for names, so
// that a server configuration naming the files loads (nginx -t fails on a
// missing file) before the CA has issued the real one.
func placeholder(name string, names []string, now time.Time) (chain, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{placeholderOrg}, OrganizationalUnit: []string{name}},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
}

// install writes a key and its certificate into dir, each atomically, the
// key first: a server reloaded between the two renames reads the new key
// with the old certificate only if it reloads in that instant, and the
// next check finds the pair unusable and issues again.
func install(dir string, chain, key []byte, rec *issued) error {
	if err := resource.WriteFile(filepath.Join(dir, KeyFile), key, keyMeta); err != nil {
		return fmt.Errorf("write %s: %w", KeyFile, err)
	}
	if err := resource.WriteFile(filepath.Join(dir, FullchainFile), chain, chainMeta); err != nil {
		return fmt.Errorf("write %s: %w", FullchainFile, err)
	}
	p := filepath.Join(dir, issuedFile)
	if rec == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	return resource.WriteFile(p, append(data, '\n'), chainMeta)
}

// keyTypeOf names the key type of a certificate as the spec does.
func keyTypeOf(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-p" + fmt.Sprint(k.Curve.Params().BitSize)
	case *rsa.PublicKey:
		return "rsa-" + fmt.Sprint(k.N.BitLen())
	}
	return fmt.Sprintf("%T", c.PublicKey)
}
