package cli

import (
	"fmt"

	"tend/internal/plan"
)

// printTunnels prints one line per side of each tunnel of the hosts that
// answered (unless the output is JSON) and returns their problems.
func printTunnels(s *session, results []plan.HostStatus, asJSON bool) []string {
	var problems []string
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		for _, tn := range r.Status.Tunnels {
			state := "connected"
			if !tn.Connected {
				state = "DOWN"
			}
			if tn.Problem != "" {
				state += ": " + tn.Problem
				problems = append(problems, fmt.Sprintf("%s: tunnel %s (%s): %s", r.Host, tn.Link, tn.Side, tn.Problem))
			}
			if asJSON {
				continue
			}
			line := fmt.Sprintf("%-12s %-11s %-24s %s %s -> %s, %d open", r.Host, "tunnel", tn.Link+" ("+tn.Side+")", state, tn.Listen, tn.Dial, tn.Active)
			if !tn.CertNotAfter.IsZero() {
				line += ", certificate until " + ts(tn.CertNotAfter)
			}
			if tn.LastError != "" {
				line += fmt.Sprintf(", last error %s: %s", ts(tn.LastErrorTime), tn.LastError)
			}
			s.printf("%s\n", line)
		}
	}
	return problems
}
