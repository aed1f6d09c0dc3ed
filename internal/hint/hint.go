// Package hint attaches a short suggestion for the user to an error, so that
// the command line can print "tend: error: ..." followed by "tend: hint: ...".
package hint

import "errors"

// Error is an error with a suggestion of what to do about it.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap returns err with the suggestion h attached; a nil err stays nil.
func Wrap(err error, h string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: h}
}

// New returns an error with message msg and suggestion h.
func New(msg, h string) error { return &Error{Err: errors.New(msg), Hint: h} }

// Of returns the outermost suggestion attached to err, or "".
func Of(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
