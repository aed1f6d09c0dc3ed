package cli

import (
	"fmt"
	"io"
	"strings"

	"tend/internal/dns"
	"tend/internal/hint"
	"tend/internal/wire"
)

// dnsRun is what plan or apply did with the environment's DNS zones.
type dnsRun struct {
	plans   []*dns.Plan
	applied bool   // apply made the plans' changes
	skipped string // why apply did not make them
	err     error  // applying failed
}

// changes counts every change, ownership records included.
func (d *dnsRun) changes() int {
	if d == nil {
		return 0
	}
	n, _ := dns.Count(d.plans)
	return n
}

// dnsCheckFailed says that a zone could not be read before any host was
// reached: nothing changed.
func dnsCheckFailed(err error) error {
	return hint.Wrap(err, addHint(err, "nothing was changed: tend reads every zone before it reaches a host"))
}

func addHint(err error, h string) string {
	if old := hint.Of(err); old != "" {
		return old + "; " + h
	}
	return h
}

// jsonDNS is one zone's line of the --json stream, before the summary.
type jsonDNS struct {
	Type string `json:"type"` // "dns"
	*dns.Plan
	Applied bool `json:"applied"`
}

// renderDNS prints each zone's changes as renderHost prints a host's:
// + create, ~ update, - delete, one line a record set (a purge, one line
// a record).
func renderDNS(w io.Writer, d *dnsRun) {
	if d == nil {
		return
	}
	for _, p := range d.plans {
		fmt.Fprintf(w, "dns %s (%s):\n", p.Zone, p.Where)
		markers := map[dns.Action]int{}
		for _, c := range p.Changes {
			if c.Marker {
				markers[c.Action]++
				continue
			}
			sign := map[dns.Action]string{dns.Create: "+", dns.Update: "~", dns.Delete: "-"}[c.Action]
			line := fmt.Sprintf("  %s %s %s ", sign, c.Name, c.Type)
			switch c.Action {
			case dns.Create:
				line += strings.Join(c.To, ", ")
			case dns.Update:
				line += strings.Join(c.From, ", ") + " -> " + strings.Join(c.To, ", ")
			case dns.Delete:
				line += strings.Join(c.From, ", ")
			}
			if c.Why != "" {
				line += "  (" + c.Why + ")"
			}
			fmt.Fprintln(w, line)
		}
		if n := markers[dns.Create] + markers[dns.Update] + markers[dns.Delete]; n > 0 {
			fmt.Fprintf(w, "  ~ %d ownership record(s) %s TXT: %d to create, %d to update, %d to delete\n", n, dns.Marker("NAME"),
				markers[dns.Create], markers[dns.Update], markers[dns.Delete])
		}
		if p.InSync > 0 {
			fmt.Fprintf(w, "  = %d record set(s) in sync\n", p.InSync)
		}
	}
}

// dnsSummary is the DNS line after the hosts' summary line.
func dnsSummary(w io.Writer, d *dnsRun, mode wire.Mode) {
	if d == nil || len(d.plans) == 0 {
		return
	}
	all, markers := dns.Count(d.plans)
	n := all - markers
	switch {
	case mode == wire.Plan:
		fmt.Fprintf(w, "DNS: %d record change(s), %d ownership record(s) to write in %d zone(s)\n", n, markers, len(d.plans))
	case all == 0:
		fmt.Fprintf(w, "DNS: %d zone(s) in sync\n", len(d.plans))
	case d.skipped != "":
		fmt.Fprintf(w, "DNS: %d record change(s) not made: %s\n", n, d.skipped)
	case d.err != nil:
		fmt.Fprintf(w, "DNS: failed\n")
	default:
		fmt.Fprintf(w, "DNS: %d record change(s), %d ownership record(s) made in %d zone(s)\n", n, markers, len(d.plans))
	}
}

func (d *dnsRun) plansOrNone() []*dns.Plan {
	if d == nil {
		return nil
	}
	return d.plans
}

// failed is the error of applying DNS, said after the hosts' summary.
func (d *dnsRun) failed() error {
	if d == nil || d.err == nil {
		return nil
	}
	return hint.Wrap(d.err, addHint(d.err, "the hosts' changes were made: run tend apply again once the zone is reachable"))
}
