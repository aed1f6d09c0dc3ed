package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"tend/internal/plan"
	"tend/internal/wire"
)

// progressStyle is how a run's events are shown while it runs.
type progressStyle int

const (
	// styleLines: one line per event on stderr, no control character, for
	// CI logs and anything else that is not a terminal.
	styleLines progressStyle = iota
	// styleLive: one line per host on the terminal, redrawn in place.
	styleLive
	// styleJSON: every event as one JSON object a line on stdout (--json).
	styleJSON
)

// progress shows the events of a plan or apply as the agents send them. Its
// event method is plan.Options.Progress: it is called from one goroutine
// per host.
type progress struct {
	mu     sync.Mutex
	style  progressStyle
	mode   wire.Mode
	out    io.Writer
	start  time.Time
	hosts  []*hostProgress // in the order of the targets
	byName map[string]*hostProgress
	pad    int                        // width of the longest host name
	size   func() (width, height int) // the terminal's
	drawn  int                        // lines of the last live frame
	stop   chan struct{}
	ticker sync.WaitGroup
}

// hostProgress is where one host's run is.
type hostProgress struct {
	name     string
	begun    bool
	total    int    // resources and removals to go through
	done     int    // resources and removals gone through
	current  string // the resource being checked or applied
	changed  int
	removed  int
	failed   bool
	finished bool
	// diagShown: a resource or handler event showed what failed.
	diagShown bool
	elapsed   time.Duration // when finished
}

// newProgress picks the style for session s: JSON when asked, live when
// stderr is a terminal (and TERM is not dumb), lines otherwise.
func newProgress(s *session, mode wire.Mode, hosts []string, asJSON bool) *progress {
	p := &progress{style: styleLines, mode: mode, out: s.stderr, start: time.Now(), byName: map[string]*hostProgress{}}
	for _, h := range hosts {
		hp := &hostProgress{name: h}
		p.hosts = append(p.hosts, hp)
		p.byName[h] = hp
		p.pad = max(p.pad, len(h))
	}
	switch {
	case asJSON:
		p.style, p.out = styleJSON, s.stdout
	case s.getenv("TERM") != "dumb":
		if f, ok := s.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p.style = styleLive
			p.size = func() (int, int) {
				if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
					return w, h
				}
				return 80, 24
			}
		}
	}
	if p.style == styleLive {
		p.live()
	}
	return p
}

// event records and shows one event of host.
func (p *progress) event(host string, e wire.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.byName[host]
	if h == nil {
		h = &hostProgress{name: host}
		p.byName[host] = h
		p.hosts = append(p.hosts, h)
	}
	switch e.Type {
	case wire.EventBegin:
		h.begun, h.total = true, e.Total
	case wire.EventStart:
		h.current = e.ID
	case wire.EventResource:
		h.done++
		h.current = ""
		h.diagShown = h.diagShown || e.Diag != nil
	case wire.EventHandler:
		h.diagShown = h.diagShown || e.Diag != nil
	case wire.EventDone:
		h.finished, h.failed = true, e.Failed
		h.changed, h.removed = e.Changed, e.Removed
		h.elapsed = time.Since(p.start)
	}
	switch p.style {
	case styleJSON:
		p.json(host, e)
	case styleLines:
		fmt.Fprintln(p.out, plainLine(p.line(h, e)))
	case styleLive:
		p.draw()
	}
}

// finish shows what the events did not: hosts that failed before their
// agent reported (unreachable, refused key). It ends the live display,
// leaving its last frame on the terminal.
func (p *progress) finish(rs []plan.Result) {
	if p.stop != nil {
		close(p.stop)
		p.ticker.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rs {
		h := p.byName[r.Host]
		if h == nil || h.finished {
			continue
		}
		h.finished, h.failed, h.elapsed = true, r.Err != nil, r.Elapsed
		e := wire.Event{Type: wire.EventDone, Failed: r.Err != nil, Diag: r.Diag}
		switch p.style {
		case styleJSON:
			p.json(r.Host, e)
		case styleLines:
			fmt.Fprintln(p.out, plainLine(p.line(h, e)))
		}
	}
	if p.style == styleLive {
		p.draw()
	}
}

// line is the text of event e of host h, for styleLines.
func (p *progress) line(h *hostProgress, e wire.Event) string {
	at := fmt.Sprintf("[%d/%d]", h.done+1, h.total)
	switch e.Type {
	case wire.EventBegin:
		return fmt.Sprintf("%s: %s %d resource(s)", h.name, p.mode, e.Total)
	case wire.EventStart:
		return fmt.Sprintf("%s: %s %s", h.name, at, e.ID)
	case wire.EventResource:
		at = fmt.Sprintf("[%d/%d]", h.done, h.total)
		return fmt.Sprintf("%s: %s %s: %s", h.name, at, e.ID, outcome(e))
	case wire.EventHandler:
		return fmt.Sprintf("%s: handler %s: %s", h.name, e.Handler, outcome(e))
	case wire.EventConfirm:
		if e.Diag != nil {
			return fmt.Sprintf("%s: %s: %s", h.name, e.ID, e.Diag.Message)
		}
		return fmt.Sprintf("%s: %s: confirmed over a new SSH connection", h.name, e.ID)
	}
	state := "ok"
	if e.Failed {
		state = "failed"
		if e.Diag != nil && !h.diagShown {
			// The run's own failure (a lock held, the agent's input),
			// not a resource's already shown.
			state = "failed: " + e.Diag.Message
		}
	}
	return fmt.Sprintf("%s: %s, %d change(s), %d removal(s) (%s)", h.name, state, e.Changed, e.Removed, round(h.elapsed))
}

// outcome says in a few words what a resource or handler event did.
func outcome(e wire.Event) string {
	switch {
	case e.Diag != nil:
		return "failed: " + e.Diag.Message
	case e.Type == wire.EventHandler && e.Applied:
		return "ran"
	case e.Type == wire.EventHandler:
		return "would run"
	case e.Change == nil:
		return "in sync"
	case e.Removal && e.Change.Action == wire.Keep:
		return "kept"
	case e.Removal && e.Applied:
		return "removed"
	case e.Removal:
		return "to remove"
	case e.Change.Action == wire.Pending:
		return "pending: " + e.Change.Reason
	case e.Applied:
		return map[wire.Action]string{wire.Create: "created", wire.Update: "updated", wire.Delete: "deleted", wire.Run: "ran"}[e.Change.Action]
	}
	return "to " + string(e.Change.Action)
}

// jsonEvent is one line of the --json stream: an agent's event with the
// host it comes from and the time since the run started.
type jsonEvent struct {
	Host string    `json:"host"`
	Mode wire.Mode `json:"mode"`
	wire.Event
	ElapsedMS int64 `json:"elapsed_ms"`
}

func (p *progress) json(host string, e wire.Event) {
	writeJSONLine(p.out, jsonEvent{Host: host, Mode: p.mode, Event: e, ElapsedMS: time.Since(p.start).Milliseconds()})
}

// plainLine replaces control characters (a newline in a command's message,
// an escape sequence in a resource name) with spaces: a progress line is
// one line, and no text from a host drives the terminal.
func plainLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
