package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// The output layer: every command prints through these (and s.printf for
// text), so that JSON looks the same everywhere: indented by two spaces,
// one value, a final newline, keys lowercase (set by `json:` tags); plan
// and apply, which stream, write one compact object a line.

// printJSON writes v as indented JSON on stdout.
func (s *session) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("print JSON: %w", err)
	}
	s.printf("%s\n", b)
	return nil
}

// writeJSONLine writes v as one line of JSON on w: the JSON Lines stream
// of plan and apply --json, one object per event and a summary.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("print JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// formatSize gives n bytes in binary units: 512 B, 1.5 KiB, 2.00 GiB.
func formatSize(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// localTime gives t in the local zone to the second, as tables show it.
func localTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
