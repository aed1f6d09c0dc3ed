package replica

import (
	"fmt"
	"strings"
	"time"
)

// State is a replica's health as CheckFiles judges it.
type State string

// The states of a replica.
const (
	StateOK      State = "ok"
	StateFailing State = "FAILING" // its last pull failed
	StateLate    State = "LATE"    // never succeeded, or older than the allowed age
)

// Checked is one status file read and judged by CheckFiles.
type Checked struct {
	Path string
	// Status is the file's record; Read is false (and Status zero) when
	// the file could not be read, and Err says why.
	Status Status
	Read   bool
	State  State
	// Err is the problem: the file could not be read, or Status.Check
	// failed. Nil when the replica is ok.
	Err error
}

// CheckFiles reads each status file and checks its replica at now (see
// Status.Check; maxAge 0 checks no age).
func CheckFiles(paths []string, now time.Time, maxAge time.Duration) []Checked {
	out := make([]Checked, 0, len(paths))
	for _, p := range paths {
		c := Checked{Path: p}
		st, err := ReadStatus(p)
		if err != nil {
			c.Err = err
			out = append(out, c)
			continue
		}
		c.Status, c.Read, c.State = st, true, StateOK
		if err := st.Check(now, maxAge); err != nil {
			c.Err = err
			c.State = StateFailing
			if st.LastError == "" {
				c.State = StateLate
			}
		}
		out = append(out, c)
	}
	return out
}

// ParseRemote reads a pull-dir source, USER@HOST:DIR (USER@ optional; an
// IPv6 HOST in brackets: root@[2001:db8::1]:/srv).
func ParseRemote(s string) (user, host, dir string, err error) {
	at := strings.LastIndex(s, "@")
	rest := s
	if at >= 0 {
		user, rest = s[:at], s[at+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return "", "", "", fmt.Errorf("%q: want USER@HOST:DIR", s)
		}
		return user, rest[:end+1], rest[end+2:], nil
	}
	host, dir, ok := strings.Cut(rest, ":")
	if !ok || host == "" || dir == "" {
		return "", "", "", fmt.Errorf("%q: want USER@HOST:DIR", s)
	}
	return user, host, dir, nil
}
