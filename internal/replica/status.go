// Package replica keeps replicas of production data on a storage host that
// pulls: PullStore mirrors an object store prefix (snapshot repositories,
// PostgreSQL archives), PullDir copies a data directory over SSH with rsync
// into dated, hard-linked copies. Production holds nothing that can touch
// the replicas; the storage host's key can only read. Every run records a
// Status in a file so that `tend replica status` and `tend status` can tell
// a failing or stale replica from a healthy one: a failure is never silent.
package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"tend/internal/atomicfile"
	"time"

	"tend/internal/hint"
)

// Report is what one pull did.
type Report struct {
	Copied      int   `json:"copied"`       // objects or files copied
	CopiedBytes int64 `json:"copied_bytes"` // their bytes
	Skipped     int   `json:"skipped"`      // already in the replica, unchanged
	// Changed lists keys whose source object changed size under the same
	// key (create-only data must never do that); the old replica copy was
	// kept under a side key, named in the message.
	Changed []string `json:"changed,omitempty"`
	// Missing counts replica objects gone from the source and kept until
	// their KeepDeleted delay has passed.
	Missing int `json:"missing,omitempty"`
	// Deleted lists replica objects deleted after KeepDeleted, or dated
	// copies removed by a PullDir retention policy.
	Deleted []string `json:"deleted,omitempty"`
	// Copy is the dated copy PullDir made.
	Copy string `json:"copy,omitempty"`
	// Warnings are problems that did not fail the pull (files that
	// vanished at the source during an rsync run).
	Warnings []string `json:"warnings,omitempty"`
	// Errors lists what failed; a pull with errors returns an error.
	Errors []string `json:"errors,omitempty"`
}

// Status is the record of a replica's last attempts, written to a status
// file after every pull so that staleness is visible without logs.
type Status struct {
	Kind   string `json:"kind"` // "store" or "dir"
	Source string `json:"source"`
	Target string `json:"target"`
	// LastAttempt is when the last pull started.
	LastAttempt time.Time `json:"last_attempt"`
	// LastSuccess is when the last successful pull started: the replica
	// holds everything the source held at that time. Zero if none.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the last pull's error, "" when it succeeded.
	LastError string `json:"last_error,omitempty"`
	// Failures counts consecutive failed pulls.
	Failures int `json:"failures,omitempty"`
	// LastReport is what the last pull did.
	LastReport Report `json:"last_report"`
}

// Lag is how far behind the source the replica may be at now: the time
// since the start of the last successful pull, or since the first attempt
// if none succeeded.
func (s Status) Lag(now time.Time) time.Duration {
	if s.LastSuccess.IsZero() {
		return now.Sub(s.LastAttempt)
	}
	return now.Sub(s.LastSuccess)
}

// Check returns an error when the last pull failed, when no pull ever
// succeeded, or when the replica is older than maxAge (0: no age limit).
func (s Status) Check(now time.Time, maxAge time.Duration) error {
	what := fmt.Sprintf("replica %s of %s", s.Target, s.Source)
	switch {
	case s.LastError != "" && s.LastSuccess.IsZero():
		return fmt.Errorf("%s: failing, never succeeded (%d failed pulls, last at %s): %s",
			what, s.Failures, s.LastAttempt.Format(time.RFC3339), s.LastError)
	case s.LastError != "":
		return fmt.Errorf("%s: failing for %d pulls, last success %s ago: %s",
			what, s.Failures, RoundAge(s.Lag(now)), s.LastError)
	case s.LastSuccess.IsZero():
		return fmt.Errorf("%s: no successful pull recorded", what)
	case maxAge > 0 && s.Lag(now) > maxAge:
		return hint.Wrap(fmt.Errorf("%s: last success %s ago, older than %s", what, RoundAge(s.Lag(now)), RoundAge(maxAge)),
			"check that the pull's timer runs on the storage host (systemctl list-timers)")
	}
	return nil
}

// RoundAge rounds an age for people: to the minute above a minute, else
// to the second.
func RoundAge(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// ReadStatus reads a status file.
func ReadStatus(path string) (Status, error) {
	var st Status
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return st, hint.Wrap(fmt.Errorf("replica status %s: no such file", path),
				"no pull has run with this --status file yet, or the path is wrong")
		}
		return st, fmt.Errorf("replica status: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("replica status %s: %w", path, err)
	}
	return st, nil
}

// record updates the status file at path (nothing when path is "") after
// a pull that started at start and ended with err.
func record(path string, st Status, start time.Time, rep Report, err error) error {
	if path == "" {
		return nil
	}
	prev, perr := ReadStatus(path)
	if perr == nil && prev.Source == st.Source && prev.Target == st.Target {
		st.LastSuccess, st.Failures = prev.LastSuccess, prev.Failures
	}
	st.LastAttempt = start
	st.LastReport = rep
	if err != nil {
		st.LastError = err.Error()
		st.Failures++
	} else {
		st.LastError = ""
		st.Failures = 0
		st.LastSuccess = start
	}
	b, jerr := json.MarshalIndent(st, "", "  ")
	if jerr != nil {
		return jerr
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("replica status %s: %w", path, err)
	}
	return nil
}

// summarize turns per-item errors into one error: how many, and the first
// few in full.
func summarize(what string, errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	const show = 3
	msg := fmt.Sprintf("%s: %d errors: %s", what, len(errs), strings.Join(errs[:min(show, len(errs))], "; "))
	if len(errs) > show {
		msg += fmt.Sprintf("; and %d more", len(errs)-show)
	}
	return errors.New(msg)
}
