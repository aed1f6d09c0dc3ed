package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a file of the repository: File is relative to the
// repository root, Line and Col start at 1 (0 when unknown).
type Pos struct {
	File      string
	Line, Col int
}

// String formats p as file:line:col, leaving out what is unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in the repository, at a position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

// Pos returns where the error is.
func (e *Error) Pos() Pos { return Pos{e.File, e.Line, e.Col} }

func (e *Error) Error() string { return e.Pos().String() + ": " + e.Msg }

// ErrorList is every problem found in a repository. Load and Compile collect
// all of them instead of stopping at the first. Its Error method prints one
// error per line, sorted by position.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l.sorted() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// add records a problem at p.
func (l *ErrorList) add(p Pos, format string, a ...any) {
	*l = append(*l, &Error{File: p.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, a...)})
}

// sorted returns the errors ordered by file, line, column and message,
// without duplicates (a role used by several hosts reports its problems once).
func (l ErrorList) sorted() ErrorList {
	s := slices.Clone(l)
	slices.SortFunc(s, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(s, func(a, b *Error) bool { return *a == *b })
}

// err returns nil when l is empty, else l sorted and deduplicated.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l.sorted()
}
