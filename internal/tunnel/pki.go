// Package tunnel provides tend's mutual-TLS tunnels: the certificate
// authority of an environment and the per-link certificates it issues (on
// the controller), and the tunnel daemon that carries one link's TCP
// connections in TLS 1.3 on a host (`tend agent tunnel`), reloading its
// certificate without closing established connections and recording its
// health for `tend status`.
//
// The CA is a 32-byte seed kept in the environment's encrypted secrets
// (vault_tunnel_ca). Everything derives from it deterministically: the CA
// key and certificate, and for each side of each link, per period of
// Period, an Ed25519 key and a certificate valid Lifetime from the
// period's start (Ed25519 signatures are deterministic). So a plan run
// twice in one period shows no change, and the first apply of a new period
// renews every certificate while the old ones still have Lifetime-Period
// to live. The CA key never leaves the controller.
package tunnel

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// SecretName is the secret holding an environment's tunnel CA seed.
const SecretName = "vault_tunnel_ca"

// Period is how often certificates are renewed (by an apply in a new
// period); Lifetime how long each is valid.
const (
	Period   = 7 * 24 * time.Hour
	Lifetime = 14 * 24 * time.Hour
)

// CA is an environment's tunnel certificate authority.
type CA struct {
	seed []byte
	key  ed25519.PrivateKey
	Cert *x509.Certificate
	PEM  string // the CA certificate, the trust anchor both sides hold
}

// ParseSeed reads a CA seed: 64 hex digits.
func ParseSeed(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("the tunnel CA seed must be 64 hex digits (tend tunnel ca init makes one)")
	}
	return b, nil
}

func derive(seed []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, seed)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

// serial derives a positive 128-bit serial number from what names a
// certificate.
func serial(parts ...string) *big.Int {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return new(big.Int).SetBytes(sum[:16])
}

// NewCA returns the CA of environment env from its seed.
func NewCA(seed []byte, env string) (*CA, error) {
	key := ed25519.NewKeyFromSeed(derive(seed, "tend tunnel ca", env))
	tmpl := &x509.Certificate{
		SerialNumber:          serial("ca", env, hex.EncodeToString(key.Public().(ed25519.PublicKey))),
		Subject:               pkix.Name{CommonName: "tend tunnel CA " + env},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tunnel CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{seed: seed, key: key, Cert: cert, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

// Identity is the name a side of a link has in its certificate, as a URI
// SAN: tend://ENV/link/NAME/server, or .../client/HOST for a client host.
func Identity(env, link, side, host string) string {
	u := "tend://" + env + "/link/" + link + "/" + side
	if side == "client" {
		u += "/" + host
	}
	return u
}

// DNSName is the DNS name a side's certificate also carries, for peers
// that check a host name but not a URI (stunnel's checkHost):
// server.LINK.ENV.tend.invalid, or HOST.client.LINK.ENV.tend.invalid
// (.invalid is reserved: it never resolves). "" when a part is not a DNS
// label.
func DNSName(identity string) string {
	rest, ok := strings.CutPrefix(identity, "tend://")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/") // ENV, link, NAME, side[, HOST]
	if len(parts) < 4 || parts[1] != "link" {
		return ""
	}
	labels := []string{parts[3], parts[2], parts[0]}
	if len(parts) == 5 {
		labels = append([]string{parts[4]}, labels...)
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return ""
		}
	}
	return strings.Join(labels, ".") + ".tend.invalid"
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func dnsName(identity string) []string {
	if n := DNSName(identity); n != "" {
		return []string{n}
	}
	return nil
}

// Issued is a side's certificate and key, in PEM.
type Issued struct {
	Cert, Key string
	NotAfter  time.Time
}

// Issue returns the certificate and key of identity for the period that
// holds now. Both are the same for every call in one period.
func (ca *CA) Issue(identity string, now time.Time) (*Issued, error) {
	u, err := url.Parse(identity)
	if err != nil || u.Scheme != "tend" {
		return nil, fmt.Errorf("tunnel identity %q is not a tend:// URI", identity)
	}
	period := now.Unix() / int64(Period/time.Second)
	start := time.Unix(period*int64(Period/time.Second), 0).UTC()
	p := fmt.Sprint(period)
	key := ed25519.NewKeyFromSeed(derive(ca.seed, "tend tunnel leaf", identity, p))
	tmpl := &x509.Certificate{
		SerialNumber: serial("leaf", identity, p),
		Subject:      pkix.Name{CommonName: identity},
		// An hour early, for clocks a little behind the controller's.
		NotBefore:   start.Add(-time.Hour),
		NotAfter:    start.Add(Lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
		DNSNames:    dnsName(identity),
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("tunnel certificate %s: %w", identity, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Issued{
		Cert:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:      string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
		NotAfter: tmpl.NotAfter,
	}, nil
}
