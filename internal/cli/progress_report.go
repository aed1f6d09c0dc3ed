package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"tend/internal/plan"
	"tend/internal/wire"
)

// hostSummary is what one host's run came to: the lines of apply's summary
// and the hosts of the --json summary object.
type hostSummary struct {
	Host      string           `json:"host"`
	Changed   int              `json:"changed"`   // resources changed (apply) or to change (plan)
	Unchanged int              `json:"unchanged"` // resources in sync
	Removed   int              `json:"removed"`   // removals made (apply) or to make (plan)
	Kept      int              `json:"kept"`      // resources that left the spec but stay on the host
	Failed    int              `json:"failed"`    // resources, handlers or the host's run that failed
	Total     int              `json:"total"`     // resources and removals the agent went through
	ElapsedMS int64            `json:"elapsed_ms"`
	Error     *wire.Diagnostic `json:"error,omitempty"` // what failed: message, hint, resource
	elapsed   time.Duration
}

func summarize(r plan.Result) hostSummary {
	h := hostSummary{Host: r.Host, Changed: r.Changed, Unchanged: r.Unchanged(), Total: r.Total,
		ElapsedMS: r.Elapsed.Milliseconds(), Error: r.Diag, elapsed: r.Elapsed}
	for _, e := range r.Events {
		switch {
		case e.Diag != nil:
			h.Failed++
		case e.Removal && e.Change != nil && e.Change.Action == wire.Keep:
			h.Kept++
		case e.Removal && e.Change != nil:
			h.Removed++
		}
	}
	if r.Err != nil && h.Failed == 0 {
		h.Failed = 1 // the host itself: unreachable, refused, the agent died
	}
	if r.Err == nil {
		h.Error = nil
	}
	return h
}

// jsonSummary is the last line of the --json stream.
type jsonSummary struct {
	Type    string        `json:"type"` // "summary"
	Env     string        `json:"env"`
	Mode    wire.Mode     `json:"mode"`
	Hosts   []hostSummary `json:"hosts"`
	Changed int           `json:"changed"`      // over all hosts
	Removed int           `json:"removed"`      // over all hosts
	Failed  int           `json:"hosts_failed"` // hosts whose run failed
	// Results are the hosts' resource and handler events, as plan --out
	// saves them.
	Results []plan.Result `json:"results"`
}

// report prints the results after the run, human or the summary object of
// the --json stream, then each failed host's error and hint the way tend
// prints every error; it returns an error when a host failed.
func report(s *session, env string, rs []plan.Result, d *dnsRun, mode wire.Mode, asJSON bool) error {
	sum := plan.Summarize(rs)
	hosts := make([]hostSummary, len(rs))
	for i, r := range rs {
		hosts[i] = summarize(r)
	}
	if asJSON {
		for _, p := range d.plansOrNone() {
			if err := writeJSONLine(s.stdout, jsonDNS{Type: "dns", Plan: p, Applied: d.applied}); err != nil {
				return err
			}
		}
		results := make([]plan.Result, len(rs))
		for i, r := range rs {
			if results[i] = r; r.Events == nil {
				results[i].Events = []wire.Event{} // an empty list is [], never null
			}
		}
		if err := writeJSONLine(s.stdout, jsonSummary{Type: "summary", Env: env, Mode: mode, Hosts: hosts,
			Changed: sum.Changed, Removed: sum.Removed, Failed: sum.Failed, Results: results}); err != nil {
			return err
		}
	} else {
		for _, r := range rs {
			renderHost(s.stdout, r)
		}
		renderDNS(s.stdout, d)
		verb := "to change"
		if mode == wire.Apply {
			verb = "changed"
		}
		removals := ""
		if sum.Removed > 0 {
			removals = fmt.Sprintf(", %d removal(s)", sum.Removed)
		}
		s.printf("%s: %d resource(s) %s%s on %d host(s), %d host(s) failed\n", strings.ToUpper(string(mode[:1]))+string(mode[1:]), sum.Changed, verb, removals, sum.Hosts, sum.Failed)
		dnsSummary(s.stdout, d, mode)
		if mode == wire.Apply {
			renderSummary(s.stdout, hosts)
		}
	}
	if sum.Failed == 0 && d.failed() == nil {
		return nil
	}
	for _, r := range rs {
		if r.Err != nil {
			s.printError(r.Err)
		}
	}
	if sum.Failed == 0 {
		return d.failed()
	}
	if d.failed() != nil {
		s.printError(d.failed())
	}
	return &exitError{code: ExitFailure, err: fmt.Errorf("%d of %d host(s) failed", sum.Failed, sum.Hosts)}
}

// renderSummary prints apply's table: per host, what changed and the time
// it took.
func renderSummary(w io.Writer, hosts []hostSummary) {
	pad := 0
	for _, h := range hosts {
		pad = max(pad, len(h.Host))
	}
	for _, h := range hosts {
		state := "ok"
		if h.Error != nil {
			state = "failed"
		}
		kept := ""
		if h.Kept > 0 {
			kept = fmt.Sprintf(", %d kept", h.Kept)
		}
		fmt.Fprintf(w, "  %-*s  %s: %d changed, %d unchanged, %d removed%s, %d failed in %s\n",
			pad, h.Host, state, h.Changed, h.Unchanged, h.Removed, kept, h.Failed, round(h.elapsed))
	}
}

// renderHost prints what a host's run found or did, one line a resource
// that changes, removals on their own lines.
func renderHost(w io.Writer, r plan.Result) {
	fmt.Fprintf(w, "host %s:\n", r.Host)
	inSync := 0
	for _, e := range r.Events {
		switch {
		case e.Type == wire.EventHandler:
			what := "would run"
			if e.Applied {
				what = "ran"
			}
			if e.Diag != nil {
				what = "failed: " + e.Diag.Message
			}
			fmt.Fprintf(w, "  ! handler %s %s\n", e.Handler, what)
		case e.Diag != nil:
			fmt.Fprintf(w, "  x %s: %s\n", e.ID, e.Diag.Message)
		case e.Change == nil:
			inSync++
		case e.Removal && e.Change.Action == wire.Keep:
			// Left on the host: the reason says why, and what to write
			// in the spec to remove it anyway.
			fmt.Fprintf(w, "  = %s  kept: %s\n", e.ID, e.Change.Reason)
		default:
			sign := map[wire.Action]string{wire.Create: "+", wire.Update: "~", wire.Delete: "-", wire.Run: ">", wire.Keep: "=", wire.Pending: "!"}[e.Change.Action]
			line := "  " + sign + " " + e.ID
			sum := e.Change.Summary()
			if e.Removal && e.Change.Action == wire.Delete {
				sum = removed(e.Change)
			}
			if sum != "" {
				line += "  " + sum
			}
			fmt.Fprintln(w, line)
			if e.Change.Diff != "" {
				for _, l := range strings.Split(strings.TrimRight(e.Change.Diff, "\n"), "\n") {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
	if inSync > 0 {
		fmt.Fprintf(w, "  = %d resource(s) in sync\n", inSync)
	}
	if r.Err != nil && len(r.Events) == 0 {
		fmt.Fprintf(w, "  x %s\n", r.Err)
	}
}

// removed says what a removal takes away (the values it deletes, "type
// file", "database app (8 MB)"), without the "-> (none)" of every field.
func removed(c *wire.Change) string {
	if c.Sensitive {
		return c.Reason
	}
	var parts []string
	for _, f := range c.Fields {
		if f.From != "" {
			parts = append(parts, f.Name+" "+f.From)
		}
	}
	if c.Reason != "" {
		parts = append(parts, c.Reason)
	}
	return strings.Join(parts, ", ")
}
