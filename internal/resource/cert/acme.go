package cert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/providers/http/webroot"
	"github.com/go-acme/lego/v5/registration"

	"tend/internal/resource"
	"tend/internal/spec"
)

// AccountDir holds the hosts' ACME account keys, one per ACME directory,
// mode 0700: they never leave the host.
const AccountDir = "/var/lib/tend/acme-account"

var keyTypes = map[string]certcrypto.KeyType{
	"ecdsa-p256": certcrypto.EC256, "ecdsa-p384": certcrypto.EC384,
	"rsa-2048": certcrypto.RSA2048, "rsa-4096": certcrypto.RSA4096,
}

type account struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (a *account) GetEmail() string                       { return a.email }
func (a *account) GetRegistration() *acme.ExtendedAccount { return a.reg }
func (a *account) GetPrivateKey() crypto.Signer           { return a.key }

// accountKey returns the host's account key for an ACME directory,
// generating it (ECDSA P-256) the first time.
func accountKey(directory string) (crypto.Signer, error) {
	sum := sha256.Sum256([]byte(directory))
	path := filepath.Join(AccountDir, hex.EncodeToString(sum[:8])+".key")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(AccountDir, 0o700); err != nil {
			return nil, err
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if err := resource.WriteFile(path, pemKey, keyMeta); err != nil {
			return nil, fmt.Errorf("account key: %w", err)
		}
		// Where the key came from, for a person reading the directory.
		_ = resource.WriteFile(path+".directory", []byte(directory+"\n"), chainMeta)
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("account key %s: no PEM key", path)
	}
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	return k, nil
}

// httpClient trusts the system's roots and the spec's ca_roots.
func httpClient(s *spec.Certificate) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if s.CARoots != "" && !pool.AppendCertsFromPEM([]byte(s.CARoots)) {
		return nil, errors.New("ca_roots holds no PEM certificate")
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: pool},
	}}, nil
}

// obtain runs the ACME protocol for the spec's names with the host's
// account (registered, or found again by its key, agreeing to the CA's
// terms), answering HTTP-01 from the webroot. The key of the certificate
// is generated here, on the host. lego logs to log (warnings and errors).
func obtain(ctx context.Context, s *spec.Certificate, log io.Writer) (chain, key []byte, err error) {
	// lego logs to standard output by default, where the agent writes
	// its events.
	legolog.SetDefault(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	k, err := accountKey(s.Directory)
	if err != nil {
		return nil, nil, err
	}
	hc, err := httpClient(s)
	if err != nil {
		return nil, nil, err
	}
	acct := &account{email: s.Email, key: k}
	cfg := lego.NewConfig(acct)
	cfg.CADirURL = s.Directory
	cfg.UserAgent = "tend"
	cfg.HTTPClient = hc
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("acme directory %s: %w", s.Directory, err)
	}
	if acct.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		return nil, nil, fmt.Errorf("acme account at %s: %w", s.Directory, err)
	}
	if s.Challenge == "dns-01" {
		sv, err := newDNSSolver(s.DNS)
		if err != nil {
			return nil, nil, err
		}
		if err := client.Challenge.SetDNS01Provider(sv, dns01.WrapPreCheck(sv.written)); err != nil {
			return nil, nil, err
		}
	} else {
		wr, err := webroot.NewHTTPProvider(Webroot)
		if err != nil {
			return nil, nil, fmt.Errorf("webroot %s: %w", Webroot, err)
		}
		if err := client.Challenge.SetHTTP01Provider(wr); err != nil {
			return nil, nil, err
		}
	}
	kt, ok := keyTypes[s.KeyType]
	if !ok {
		return nil, nil, fmt.Errorf("key_type %q is not one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-4096", s.KeyType)
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: s.Names, Bundle: true, KeyType: kt})
	if err != nil {
		return nil, nil, fmt.Errorf("acme order for %v at %s: %w", s.Names, s.Directory, err)
	}
	return res.Certificate, res.PrivateKey, nil
}
