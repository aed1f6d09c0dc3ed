package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"tend/internal/plan"
)

func statusCmd() *command {
	var f runFlags
	return &command{
		name:    "status",
		args:    "ENV",
		summary: "every host's backups, replicas, archiving, certificates and tunnels; exit 1 when one failed, is late, expires soon or is down",
		help: `Asks each host of ENV (over SSH) for the record of its scheduled jobs
(file_backup, replica) and the health of its PostgreSQL backups
(postgres_backup; see tend db status for details), prints each with its
last success and age, and each side of each tunnel (connected, last error,
certificate expiry), and exits 1 with a loud message when any job failed,
never ran or is later than its max_age, archiving is failing, a store does
not protect old backups from the host's key, or a tunnel is down, cannot
connect or has a certificate close to expiry. It lists every certificate
with its names, issuer and expiry, and fails when one expires within 14
days, is still a placeholder, or its renewal job failed (kind
certificate). Run it
from CI on a schedule so that a silent failure cannot last. At most
--parallel hosts are asked at once; no secret is decrypted.`,
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			_, hosts, err := reach(s, args[0], f)
			if err != nil {
				return err
			}
			bin, err := agentBinary(s)
			if err != nil {
				return err
			}
			results := plan.Status(ctx, hosts, bin, f.parallel)
			if f.asJSON {
				m := map[string]any{}
				for _, r := range results {
					if r.Err != nil {
						m[r.Host] = map[string]string{"error": r.Err.Error()}
					} else {
						m[r.Host] = r.Status
					}
				}
				s.printJSON(m)
			}
			var problems []string
			now := time.Now()
			for _, r := range results {
				if r.Err != nil {
					problems = append(problems, fmt.Sprintf("%s: cannot ask: %v", r.Host, r.Err))
					continue
				}
				hs := r.Status
				if hs.PostgresError != "" {
					problems = append(problems, fmt.Sprintf("%s: postgres: %s", r.Host, hs.PostgresError))
				}
				if len(hs.PendingRestart) > 0 && !f.asJSON {
					// Not a failure: the spec chose to leave the restart
					// to a person (restart: allowed lets tend do it).
					s.printf("%-12s %-11s %-24s restart pending for %s: restart PostgreSQL when it suits\n", r.Host, "postgres", "settings", strings.Join(hs.PendingRestart, ", "))
				}
				for _, j := range hs.Jobs {
					state := "ok"
					if j.Problem != "" {
						state = "FAILING: " + j.Problem
						problems = append(problems, fmt.Sprintf("%s: %s %s: %s", r.Host, j.Kind, j.Name, j.Problem))
					}
					last := "never"
					if !j.LastSuccess.IsZero() {
						last = fmt.Sprintf("%s (%s ago)", ts(j.LastSuccess), now.Sub(j.LastSuccess).Round(time.Second))
					}
					if !f.asJSON {
						s.printf("%-12s %-11s %-24s last success %s, max age %s: %s\n", r.Host, j.Kind, j.Name, last, j.MaxAge, state)
					}
				}
				for _, c := range hs.Certificates {
					state := "ok"
					if c.Problem != "" {
						state = "FAILING: " + c.Problem
						problems = append(problems, fmt.Sprintf("%s: certificate %s: %s", r.Host, c.Name, c.Problem))
					}
					if !f.asJSON {
						s.printf("%-12s %-11s %-24s %s, issuer %s, expires %s: %s\n", r.Host, "certificate", c.Name, strings.Join(c.Names, " "), orNone(c.Issuer), expiry(c.NotAfter, now), state)
					}
				}
				for _, d := range hs.Databases {
					state := "ok"
					if len(d.Problems) > 0 {
						state = "FAILING: " + strings.Join(d.Problems, "; ")
						for _, p := range d.Problems {
							problems = append(problems, fmt.Sprintf("%s: postgres_backup %s: %s", r.Host, d.Cluster, p))
						}
					}
					last := "never"
					if d.LastArchivedTime != nil {
						last = fmt.Sprintf("%s (%s ago)", ts(*d.LastArchivedTime), now.Sub(*d.LastArchivedTime).Round(time.Second))
					}
					if !f.asJSON {
						s.printf("%-12s %-11s %-24s last archived %s: %s\n", r.Host, "postgres", d.Cluster, last, state)
					}
				}
			}
			problems = append(problems, printTunnels(s, results, f.asJSON)...)
			if len(problems) > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%d problem(s) in %s:\n%s", len(problems), args[0], strings.Join(problems, "\n"))}
			}
			return nil
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// expiry shows when a certificate expires and how far that is.
func expiry(t, now time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	left := t.Sub(now)
	if left < 0 {
		return fmt.Sprintf("%s (%s ago)", ts(t), (-left).Round(time.Minute))
	}
	return fmt.Sprintf("%s (in %dd%dh)", ts(t), int(left.Hours())/24, int(left.Hours())%24)
}
