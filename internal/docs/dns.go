package docs

import (
	"bytes"
	"fmt"
	"strings"
)

// renderDNS returns the page's DNS section: per zone, where it is served
// and what tend does with records it does not declare, then every record,
// those the spec declares (with their file:line) and those derived from
// it (a host's address, a site's names). Credentials by secret name only.
// "" when the environment has no zone.
func (m *model) renderDNS() string {
	zones, err := m.repo.DNS(m.env.Name, m.hosts)
	if err != nil || len(zones) == 0 {
		return ""
	}
	var b bytes.Buffer
	for _, z := range zones {
		fmt.Fprintf(&b, "\n### zone %s\n\n", z.Name)
		var creds []string
		for _, k := range sortedKeys(z.Secrets) {
			creds = append(creds, k+": secret "+code(z.Secrets[k]))
		}
		fmt.Fprintf(&b, "- **Served by**: %s", z.Where())
		if len(creds) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(creds, ", "))
		}
		b.WriteString("\n")
		if z.Purge {
			b.WriteString("- **Records tend does not declare**: deleted (`purge: true`)\n")
		} else {
			b.WriteString("- **Records tend does not declare**: left alone\n")
		}
		b.WriteString("\n| name | type | value | TTL | from |\n|---|---|---|---|---|\n")
		for _, r := range z.Records {
			from := r.From
			if from == "" {
				from = "declared, " + r.Pos.String()
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s |\n", code(r.Name), r.Type, code(r.Data), r.TTL, cell(from))
		}
	}
	return b.String()
}
