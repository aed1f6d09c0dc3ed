package cli

import (
	"encoding/json"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
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
