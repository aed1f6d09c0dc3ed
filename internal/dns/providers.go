package dns

import (
	"fmt"

	"github.com/libdns/gandi"
	"github.com/libdns/ovh"
	"github.com/libdns/rfc2136"

	"tend/internal/spec"
)

// NewZone makes the zone to keep from the spec's zone z and its desired
// records, with z's provider; credential returns the value of one of its
// credential fields (key_secret, token...). The credentials stay in the
// provider's memory: never in a process argument, a file or a message.
func NewZone(z *spec.DNSZone, records []spec.DNSRecord, credential func(field string) (string, error)) (*Zone, error) {
	cred := func(field string) (string, error) {
		v, err := credential(field)
		if err != nil {
			return "", fmt.Errorf("dns zone %s: %s: %w", z.Name, field, err)
		}
		return v, nil
	}
	out := &Zone{Name: z.Name, Where: z.Where(), Purge: z.Purge, Records: records}
	switch z.Provider {
	case spec.DNSRFC2136:
		key, err := cred("key_secret")
		if err != nil {
			return nil, err
		}
		out.Provider = &rfc2136.Provider{KeyName: z.KeyName, KeyAlg: z.KeyAlgorithm, Key: key, Server: z.Server}
	case spec.DNSGandi:
		token, err := cred("token")
		if err != nil {
			return nil, err
		}
		out.Provider = &gandi.Provider{BearerToken: token}
	case spec.DNSOVH:
		p := &ovh.Provider{Endpoint: z.Endpoint}
		for field, dst := range map[string]*string{"application_key": &p.ApplicationKey, "application_secret": &p.ApplicationSecret, "consumer_key": &p.ConsumerKey} {
			v, err := cred(field)
			if err != nil {
				return nil, err
			}
			*dst = v
		}
		out.Provider = p
	default:
		return nil, fmt.Errorf("dns zone %s: unknown provider %q", z.Name, z.Provider)
	}
	return out, nil
}
