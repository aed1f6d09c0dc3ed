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
			state, side := "connected", tn.Side
			if !tn.Connected {
				state = "DOWN"
			}
			if tn.Stunnel {
				state, side = "stunnel4 running", tn.Side+", stunnel4"
				if !tn.Connected {
					state = "stunnel4 DOWN"
				}
			}
			if tn.Problem != "" {
				state += ": " + tn.Problem
				problems = append(problems, fmt.Sprintf("%s: tunnel %s (%s): %s", r.Host, tn.Link, tn.Side, tn.Problem))
			}
			if asJSON {
				continue
			}
			line := fmt.Sprintf("%-12s %-11s %-24s %s %s -> %s, %d open", r.Host, "tunnel", tn.Link+" ("+side+")", state, tn.Listen, tn.Dial, tn.Active)
			if tn.Stunnel {
				line = fmt.Sprintf("%-12s %-11s %-24s %s", r.Host, "tunnel", tn.Link+" ("+side+")", state)
			}
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
