package docs

import "tend/internal/spec"

// renderDNS returns the page's DNS section for environment e: its zones
// and records, those the spec declares and those derived from it (a
// host's addresses, a site's names). It returns "" for now, and the page
// leaves the section out: DNS zones and records enter the spec in another
// change (issue #15), and this is where they will be rendered, as a table
// per zone (name, type, value, managed or derived from which host or
// site), once spec.Environment holds them.
func renderDNS(e *spec.Environment) string {
	_ = e
	return ""
}
