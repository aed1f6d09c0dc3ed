package secret

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// MinPlaintextLen is the shortest value FindPlaintext looks for: shorter
// values (a port, "true") would match everywhere by chance.
const MinPlaintextLen = 6

// Finding is a secret's value found in plain text in a repository file.
type Finding struct {
	File string
	Line int
	Name string // the secret whose value was found; never the value
}

func (f Finding) String() string {
	return f.File + ":" + strconv.Itoa(f.Line) + ": the value of secret " + f.Name + " appears in plain text"
}

// FindPlaintext reports every occurrence of a secret value (at least
// MinPlaintextLen bytes long) in files, a map of repository paths to
// contents, sorted by file, line and name. It is how `tend validate` catches a
// password committed in clear.
func FindPlaintext(values map[string]Value, files map[string][]byte) []Finding {
	var out []Finding
	names := sortedKeys(values)
	for path, data := range files {
		for _, name := range names {
			v := []byte(values[name].Reveal())
			if len(v) < MinPlaintextLen {
				continue
			}
			for off := 0; ; {
				i := bytes.Index(data[off:], v)
				if i < 0 {
					break
				}
				at := off + i
				out = append(out, Finding{File: path, Line: bytes.Count(data[:at], []byte("\n")) + 1, Name: name})
				off = at + len(v)
			}
			clear(v)
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.Compact(out)
}
