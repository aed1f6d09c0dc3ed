package spec

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	templateErrRE = regexp.MustCompile(`(?s)^template: (.+?):(\d+)(?::(\d+))?: (.*)$`)
	execErrRE     = regexp.MustCompile(`(?s)^executing ".*?" at <(.*?)>: (.*)$`)
	missingKeyRE  = regexp.MustCompile(`^map has no entry for key ".*"$`)
)

// templateErrPos extracts the line and column (1-based, 0 when unknown)
// from a text/template error and rewrites its message for users.
func templateErrPos(err error) (Pos, string) {
	m := templateErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return Pos{}, err.Error()
	}
	var p Pos
	p.Line, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		c, _ := strconv.Atoi(m[3])
		p.Col = c + 1 // text/template counts bytes from 0
	}
	msg := m[4]
	if e := execErrRE.FindStringSubmatch(msg); e != nil {
		if missingKeyRE.MatchString(e[2]) {
			msg = "undefined variable " + e[1]
		} else {
			msg = e[1] + ": " + e[2]
		}
	}
	return p, msg
}

// inlinePos places a position inside the template held by scalar n (p's
// line and column count from the string's start) in the YAML file.
func inlinePos(f *source, n *yaml.Node, p Pos) Pos {
	out := f.pos(n)
	if p.Line == 0 {
		return out
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		// The block's text starts on the line after the indicator, with
		// the indentation of its first line removed.
		out.Line = n.Line + p.Line
		out.Col = 0
		if p.Col > 0 && out.Line-1 < len(f.lines) {
			line := f.lines[out.Line-1]
			indent := len(line) - len(strings.TrimLeft(line, " "))
			out.Col = indent + p.Col
		}
		return out
	}
	quote := 0
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		quote = 1
	}
	out.Line = n.Line + p.Line - 1
	switch {
	case p.Col == 0 && p.Line > 1:
		out.Col = 0
	case p.Col == 0:
	case p.Line == 1:
		out.Col = n.Column + quote + p.Col - 1
	default:
		out.Col = p.Col
	}
	return out
}
