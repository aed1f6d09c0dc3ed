// Package dns keeps DNS zones as the spec declares them: it compares a
// zone's desired records with those its provider serves, lists the
// record sets to create, update and delete, and makes those changes
// through a libdns provider (RFC 2136 with TSIG, Gandi, OVH). It leaves
// alone the records tend does not own unless the zone purges: tend owns
// the record types that its ownership record at a name lists (see Marker
// and docs/dns.md). It runs on the controller and never prints.
package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"tend/internal/hint"
	"tend/internal/spec"
)

// Provider is what tend needs of a libdns provider. GetRecords returns
// every record of the zone; SetRecords replaces, for each name and type
// it is given, the whole record set with the records given; DeleteRecords
// deletes exactly the records given (name, type and data); AppendRecords
// adds records beside those of their name and type (DNS-01 challenges).
type Provider interface {
	libdns.RecordGetter
	libdns.RecordSetter
	libdns.RecordDeleter
	libdns.RecordAppender
}

// Zone is one zone to keep: its desired records and its provider.
type Zone struct {
	Name     string // without the final dot
	Where    string // the provider and server, for messages: "rfc2136 server 127.0.0.1:53"
	Purge    bool   // delete the records tend does not declare
	Records  []spec.DNSRecord
	Provider Provider
}

// Action is what a change does to a record set.
type Action string

// The actions of a change.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Change is one record set to create, replace or delete, or for a
// purge, one record.
type Change struct {
	Action Action   `json:"action"`
	Name   string   `json:"name"` // relative to the zone, "@" its apex
	Type   string   `json:"type"`
	From   []string `json:"from,omitempty"` // the records served now: "TTL DATA"
	To     []string `json:"to,omitempty"`   // the records wanted
	// Purge: an unmanaged record deleted because the zone purges.
	Purge bool `json:"purge,omitempty"`
	// Marker: the change is to one of tend's ownership records.
	Marker bool   `json:"marker,omitempty"`
	Why    string `json:"why,omitempty"` // what a record is derived from, or why it goes

	set []spec.DNSRecord // the record set to write (create, update)
	del []spec.DNSRecord // the records to delete
}

// Plan is one zone's changes.
type Plan struct {
	Zone    string   `json:"zone"`
	Where   string   `json:"where"`
	Changes []Change `json:"changes"`
	InSync  int      `json:"in_sync"` // record sets already as declared
}

// Marker is the name of the ownership record of name ("@" the apex):
// a TXT record listing the types tend manages at name.
func Marker(name string) string {
	if name == "@" {
		return spec.DNSMarkerPrefix
	}
	return spec.DNSMarkerPrefix + "." + name
}

const markerText = "tend owns "

type key struct{ name, typ string }

// Current reads the records z's provider serves, in canonical form. An
// error names the zone and where it is.
func Current(ctx context.Context, z *Zone) ([]spec.DNSRecord, error) {
	recs, err := z.Provider.GetRecords(ctx, z.Name)
	if err != nil {
		return nil, z.fail("read records", err)
	}
	var out []spec.DNSRecord
	for _, r := range recs {
		rr := r.RR()
		c, err := spec.CanonicalRecord(z.Name, fqdn(rr.Name, z.Name), int(rr.TTL/time.Second), rr.Type, rr.Data, false)
		if err != nil {
			// A record tend cannot parse is compared as given: tend
			// never declares one like it.
			c = spec.DNSRecord{Name: rr.Name, TTL: int(rr.TTL / time.Second), Type: rr.Type, Data: rr.Data}
		}
		out = append(out, c)
	}
	return out, nil
}

// fqdn makes libdns's relative name absolute.
func fqdn(name, zone string) string {
	return libdns.AbsoluteName(name, zone+".")
}

func (z *Zone) fail(what string, err error) error {
	return hint.Wrap(fmt.Errorf("dns zone %s (%s): %s: %w", z.Name, z.Where, what, err),
		"check the zone's server and credentials: its dns: entry in the environment file, and the secrets it names")
}

// keep says whether tend ever touches a record of this type and name:
// never the SOA, the apex NS or DNSSEC records. Nor does a purge delete
// the addresses of the zone's own name servers (Diff).
func keep(r spec.DNSRecord) bool {
	switch r.Type {
	case "SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY":
		return true
	case "NS":
		return r.Name == "@"
	}
	return false
}

// Diff compares z's desired records with current and returns the
// changes, in name then type order. A record set tend declares is
// replaced whole; one tend owned (its marker lists the type) and no longer
// declares is deleted; any other record is left alone, or deleted one by
// one when z purges.
func Diff(z *Zone, current []spec.DNSRecord) *Plan {
	p := &Plan{Zone: z.Name, Where: z.Where, Changes: []Change{}} // [] in JSON, never null
	want := map[key][]spec.DNSRecord{}
	types := map[string][]string{}
	for _, r := range z.Records {
		k := key{r.Name, r.Type}
		if len(want[k]) == 0 {
			types[r.Name] = append(types[r.Name], r.Type)
		}
		want[k] = append(want[k], r)
	}
	for name, ts := range types {
		slices.Sort(ts)
		m := spec.DNSRecord{Name: Marker(name), TTL: 300, Type: "TXT", Data: markerText + strings.Join(ts, ",")}
		want[key{m.Name, m.Type}] = []spec.DNSRecord{m}
	}
	have := map[key][]spec.DNSRecord{}
	owned := map[string][]string{} // name -> types its marker lists
	glue := map[string]bool{}      // names of the zone's own name servers
	for _, r := range current {
		if r.Type == "NS" && r.Name == "@" {
			if n, ok := strings.CutSuffix(strings.ToLower(r.Data), "."+z.Name+"."); ok {
				glue[n] = true
			}
		}
	}
	for _, r := range current {
		if keep(r) {
			continue
		}
		k := key{r.Name, r.Type}
		have[k] = append(have[k], r)
		if r.Type == "TXT" && strings.HasPrefix(r.Data, markerText) {
			if name, ok := markerOf(r.Name); ok {
				owned[name] = append(owned[name], strings.Split(strings.TrimPrefix(r.Data, markerText), ",")...)
			}
		}
	}
	keys := map[key]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range have {
		keys[k] = true
	}
	sorted := make([]key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	owner := func(k key) string {
		if n, ok := markerOf(k.name); ok {
			return n
		}
		return k.name
	}
	slices.SortFunc(sorted, func(a, b key) int {
		if c := strings.Compare(owner(a), owner(b)); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.typ, b.typ)
	})
	for _, k := range sorted {
		w, h := want[k], have[k]
		switch {
		case len(w) > 0 && len(h) == 0:
			p.Changes = append(p.Changes, Change{Action: Create, Name: k.name, Type: k.typ, To: values(w), Why: from(w), set: w})
		case len(w) > 0:
			if slices.Equal(values(w), values(h)) {
				p.InSync++
				continue
			}
			p.Changes = append(p.Changes, Change{Action: Update, Name: k.name, Type: k.typ, From: values(h), To: values(w), Why: from(w), set: w})
		case isMarker(k, h) || slices.Contains(owned[k.name], k.typ):
			p.Changes = append(p.Changes, Change{Action: Delete, Name: k.name, Type: k.typ, From: values(h), Why: "no longer in the spec", del: h, Marker: isMarker(k, h)})
		case z.Purge && !(glue[k.name] && (k.typ == "A" || k.typ == "AAAA")):
			for _, r := range h {
				p.Changes = append(p.Changes, Change{Action: Delete, Name: k.name, Type: k.typ, From: values([]spec.DNSRecord{r}), Purge: true,
					Why: "purge: not in the spec", del: []spec.DNSRecord{r}})
			}
		}
	}
	for i, c := range p.Changes {
		if _, ok := markerOf(c.Name); ok && c.Type == "TXT" && c.Action != Delete {
			p.Changes[i].Marker = true
		}
	}
	return p
}

// markerOf returns the name a marker's name is the marker of.
func markerOf(n string) (string, bool) {
	if n == spec.DNSMarkerPrefix {
		return "@", true
	}
	return strings.CutPrefix(n, spec.DNSMarkerPrefix+".")
}

func isMarker(k key, h []spec.DNSRecord) bool {
	_, ok := markerOf(k.name)
	return ok && k.typ == "TXT" && len(h) == 1 && strings.HasPrefix(h[0].Data, markerText)
}

// values are a record set's records as "TTL DATA", sorted.
func values(rs []spec.DNSRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		d := r.Data
		if r.Type == "TXT" {
			d = fmt.Sprintf("%q", d)
		}
		out[i] = fmt.Sprintf("%d %s", r.TTL, d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// from says what the records are derived from, when they are.
func from(rs []spec.DNSRecord) string {
	var out []string
	for _, r := range rs {
		if r.From != "" && !slices.Contains(out, r.From) {
			out = append(out, r.From)
		}
	}
	return strings.Join(out, ", ")
}

// Apply makes p's changes in z: the deletions first (so that a CNAME
// may replace another record), then every record set to write in one
// call (one signed update for RFC 2136). An error names the zone and
// where it is.
func Apply(ctx context.Context, z *Zone, p *Plan) error {
	var del, set []libdns.Record
	for _, c := range p.Changes {
		for _, r := range c.del {
			del = append(del, toLibdns(r))
		}
		for _, r := range c.set {
			set = append(set, toLibdns(r))
		}
	}
	if len(del) > 0 {
		if _, err := z.Provider.DeleteRecords(ctx, z.Name, del); err != nil {
			return z.fail("delete records", err)
		}
	}
	if len(set) > 0 {
		if _, err := z.Provider.SetRecords(ctx, z.Name, set); err != nil {
			return z.fail("write records", err)
		}
	}
	return nil
}

func toLibdns(r spec.DNSRecord) libdns.RR {
	return libdns.RR{Name: r.Name, TTL: time.Duration(r.TTL) * time.Second, Type: r.Type, Data: r.Data}
}

// Count is the number of changes of the plans, and how many of them are
// to ownership records.
func Count(ps []*Plan) (n, markers int) {
	for _, p := range ps {
		n += len(p.Changes)
		for _, c := range p.Changes {
			if c.Marker {
				markers++
			}
		}
	}
	return n, markers
}
