package cert

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/libdns/libdns"

	"tend/internal/dns"
	"tend/internal/resource"
	"tend/internal/spec"
)

// dnsSolver answers DNS-01 challenges by writing their TXT records in the
// zone through its provider, and removing them after.
type dnsSolver struct {
	zone *dns.Zone
}

func newDNSSolver(d *spec.CertDNS) (*dnsSolver, error) {
	z, err := dns.NewZone(d.ZoneSpec(), nil, func(field string) (string, error) {
		v, ok := d.Credentials[field]
		if !ok {
			return "", fmt.Errorf("no value in %s", DNSFile)
		}
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	// The challenge goes to the zone the spec names: lego is not to
	// follow a CNAME of _acme-challenge elsewhere (nor to need a
	// resolver to look for one).
	os.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	return &dnsSolver{zone: z}, nil
}

// record is the TXT record answering the challenge for domain.
func (s *dnsSolver) record(domain, keyAuth string) libdns.RR {
	sum := sha256.Sum256([]byte(keyAuth))
	name := libdns.RelativeName("_acme-challenge."+strings.TrimPrefix(domain, "*.")+".", s.zone.Name+".")
	return libdns.RR{Name: name, Type: "TXT", TTL: 60 * time.Second, Data: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// Present adds the record (beside another one of the same name: a
// wildcard and its apex share it).
func (s *dnsSolver) Present(ctx context.Context, domain, _, keyAuth string) error {
	if _, err := s.zone.Provider.AppendRecords(ctx, s.zone.Name, []libdns.Record{s.record(domain, keyAuth)}); err != nil {
		return fmt.Errorf("dns zone %s (%s): write the challenge for %s: %w", s.zone.Name, s.zone.Where, domain, err)
	}
	return nil
}

// CleanUp removes the record.
func (s *dnsSolver) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	if _, err := s.zone.Provider.DeleteRecords(ctx, s.zone.Name, []libdns.Record{s.record(domain, keyAuth)}); err != nil {
		return fmt.Errorf("dns zone %s (%s): remove the challenge for %s: %w", s.zone.Name, s.zone.Where, domain, err)
	}
	return nil
}

// Timeout: how long lego waits for written to say yes, and how often it
// asks.
func (s *dnsSolver) Timeout() (time.Duration, time.Duration) {
	return 2 * time.Minute, 250 * time.Millisecond
}

// written is the check before the CA is told to look: the provider
// serves the record (for RFC 2136, the primary answers it). It replaces
// lego's check of every authoritative server, which needs the zone's
// delegation to be resolvable from the host.
func (s *dnsSolver) written(ctx context.Context, domain, fqdn, value string, _ dns01.PreCheckFunc) (bool, error) {
	recs, err := s.zone.Provider.GetRecords(ctx, s.zone.Name)
	if err != nil {
		return false, fmt.Errorf("dns zone %s (%s): read the challenge back: %w", s.zone.Name, s.zone.Where, err)
	}
	name := libdns.RelativeName(fqdn, s.zone.Name+".")
	for _, r := range recs {
		rr := r.RR()
		if rr.Type == "TXT" && rr.Name == name && rr.Data == value {
			return true, nil
		}
	}
	return false, nil
}

// noFile is a part that makes sure a file is not there.
type noFile string

func (p noFile) Check(context.Context) (*resource.Change, error) {
	if _, err := os.Lstat(string(p)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add(filepath.Base(string(p)), string(p), "")
	return c, nil
}

func (p noFile) Apply(context.Context, *resource.Change) error {
	if err := os.Remove(string(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
