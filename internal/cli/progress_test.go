package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"tend/internal/plan"
	"tend/internal/wire"
)

// cmdJSONLines is the testscript command `jsonlines`: the last command's
// stdout is a JSON Lines stream as --json promises, one JSON object a
// line with lowercase keys, ending with the summary object.
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: jsonlines")
	}
	out := strings.TrimSuffix(ts.ReadFile("stdout"), "\n")
	if out == "" {
		ts.Fatalf("stdout is empty")
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			ts.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, l)
		}
		checkLowercase(ts, i+1, obj)
		want := "summary"
		if i < len(lines)-1 {
			if obj["host"] == nil || obj["type"] == "summary" {
				ts.Fatalf("line %d is not an event of a host: %s", i+1, l)
			}
			continue
		}
		if obj["type"] != want {
			ts.Fatalf("the last line is not the summary: %s", l)
		}
	}
}

func checkLowercase(ts *testscript.TestScript, line int, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k != strings.ToLower(k) {
				ts.Fatalf("line %d: key %q is not lowercase", line, k)
			}
			checkLowercase(ts, line, x)
		}
	case []any:
		for _, x := range v {
			checkLowercase(ts, line, x)
		}
	}
}

// TestProgressLinesArePlain: a host's text (a command's message with a
// newline, an escape sequence) never reaches a CI log as control
// characters, and each event stays one line.
func TestProgressLinesArePlain(t *testing.T) {
	var out bytes.Buffer
	s := &session{stdout: io.Discard, stderr: &out, getenv: func(string) string { return "" }}
	p := newProgress(s, wire.Apply, []string{"web"}, false)
	evil := "file:/tmp/\x1b[2Jx"
	for _, e := range []wire.Event{
		{Type: wire.EventBegin, Total: 1},
		{Type: wire.EventStart, ID: evil},
		{Type: wire.EventResource, ID: evil, Diag: &wire.Diagnostic{Message: "apply: exit 1:\nE: \x1b[31mbroken\x1b[0m\r", Hint: "retry"}},
		{Type: wire.EventDone, Failed: true, Diag: &wire.Diagnostic{Message: "file:/tmp: apply: exit 1"}},
	} {
		p.event("web", e)
	}
	p.finish([]plan.Result{{Host: "web", Err: errors.New("host web: failed")}})
	got := out.String()
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("%d lines for 4 events:\n%s", n, got)
	}
	for _, r := range strings.TrimSuffix(got, "\n") {
		if r != '\n' && (r < 0x20 || r == 0x7f) {
			t.Fatalf("control character %q in:\n%q", r, got)
		}
	}
	if want := "web: [1/1] file:/tmp/ [2Jx: failed: apply: exit 1: E:  [31mbroken [0m \n"; !strings.Contains(got, want) {
		t.Errorf("missing %q in:\n%s", want, got)
	}
	// The resource's failure was shown: the run's line does not repeat it.
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "web: failed, 0 change(s), 0 removal(s) (") {
		t.Errorf("last line: %s", last)
	}
}

// TestProgressLiveFitsTheTerminal: a live line never wraps, whatever the
// resource's name, so redrawing in place moves up the right count of
// lines.
func TestProgressLiveFitsTheTerminal(t *testing.T) {
	var out bytes.Buffer
	p := &progress{style: styleLive, mode: wire.Plan, out: &out, start: time.Now(), byName: map[string]*hostProgress{}, size: func() (int, int) { return 30, 24 }}
	for _, h := range []string{"web", "db"} {
		hp := &hostProgress{name: h}
		p.hosts, p.byName[h] = append(p.hosts, hp), hp
		p.pad = max(p.pad, len(h))
	}
	p.event("web", wire.Event{Type: wire.EventBegin, Total: 2})
	p.event("web", wire.Event{Type: wire.EventStart, ID: "file:/a/very/long/path/that/does/not/fit/on/the/line"})
	frames := strings.Split(out.String(), "\r\x1b[2A")
	if len(frames) != 2 {
		t.Fatalf("want the second frame to move up 2 lines: %q", out.String())
	}
	for _, l := range strings.Split(strings.TrimSuffix(frames[1], "\n"), "\n") {
		l = strings.TrimPrefix(l, "\r\x1b[2K")
		if len([]rune(l)) >= 30 {
			t.Errorf("line of %d runes on a 30-column terminal: %q", len([]rune(l)), l)
		}
	}
	if !strings.Contains(frames[1], "web  0/2  file:/a/very/lo") || !strings.Contains(frames[1], "db   connecting") {
		t.Errorf("second frame: %q", frames[1])
	}
}

// TestProgressLiveFitsTheScreen: more hosts than the terminal has rows
// shows a count of the finished ones and the others that fit, so the
// cursor never has to move above the top of the screen.
func TestProgressLiveFitsTheScreen(t *testing.T) {
	var out bytes.Buffer
	p := &progress{style: styleLive, mode: wire.Apply, out: &out, start: time.Now(), byName: map[string]*hostProgress{}, size: func() (int, int) { return 80, 4 }}
	for _, h := range []string{"a", "b", "c", "d", "e"} {
		hp := &hostProgress{name: h}
		p.hosts, p.byName[h] = append(p.hosts, hp), hp
		p.pad = 1
	}
	for _, h := range []string{"a", "b"} {
		p.event(h, wire.Event{Type: wire.EventBegin, Total: 1})
		p.event(h, wire.Event{Type: wire.EventDone, Changed: 1})
	}
	p.event("d", wire.Event{Type: wire.EventBegin, Total: 3})
	frames := strings.Split(out.String(), "\r\x1b[3A")
	last := frames[len(frames)-1]
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(last, "\n"), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\r\x1b[2K"))
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "2/5 host(s) finished, 0 failed, ") ||
		!strings.HasPrefix(lines[1], "d  0/3  ") || !strings.HasPrefix(lines[2], "c  connecting") {
		t.Errorf("frame on a 4-row terminal: %q", lines)
	}
}
