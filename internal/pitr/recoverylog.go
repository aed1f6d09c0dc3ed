package pitr

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// recoveryStop is where a recovery run stopped, as PostgreSQL's log says.
type recoveryStop struct {
	// stopped: recovery stopped at its target ("recovery stopping
	// before/after ...").
	stopped    bool
	stopTime   time.Time // the time of the transaction it stopped at
	stopBefore bool      // before that transaction (a time target)
	// endedBeforeTarget: the WAL ended first ("recovery ended before
	// configured recovery target was reached").
	endedBeforeTarget bool
	hasRedoDone       bool
	redoDone          LSN       // the last record replayed ("redo done at")
	lastXact          time.Time // "last completed transaction was at log time"
	lastXactRaw       string
}

var (
	reRedoDone = regexp.MustCompile(`redo done at ([0-9A-Fa-f]+/[0-9A-Fa-f]+)`)
	reLastXact = regexp.MustCompile(`last completed transaction was at log time (.+)$`)
	reStopping = regexp.MustCompile(`recovery stopping (before|after) (?:commit|abort) of transaction \d+, time (.+)$`)
	reStopLSN  = regexp.MustCompile(`recovery stopping (?:before|after) WAL location \(LSN\) "`)
)

// parseRecoveryLog reads the log PostgreSQL wrote during one recovery
// run; later lines win.
func parseRecoveryLog(log string) recoveryStop {
	var r recoveryStop
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r ")
		if m := reRedoDone.FindStringSubmatch(line); m != nil {
			if l, err := ParseLSN(m[1]); err == nil {
				r.redoDone, r.hasRedoDone = l, true
			}
		}
		if m := reLastXact.FindStringSubmatch(line); m != nil {
			r.lastXactRaw = m[1]
			r.lastXact, _ = parsePGTime(m[1])
		}
		if m := reStopping.FindStringSubmatch(line); m != nil {
			r.stopped = true
			r.stopBefore = m[1] == "before"
			r.stopTime, _ = parsePGTime(m[2])
		}
		if reStopLSN.MatchString(line) {
			r.stopped = true
		}
		if strings.Contains(line, "recovery ended before configured recovery target was reached") {
			r.endedBeforeTarget = true
		}
	}
	return r
}

// reached says where a run got to, for messages.
func (r recoveryStop) reached() string {
	var parts []string
	if r.hasRedoDone {
		parts = append(parts, "LSN "+r.redoDone.String())
	}
	switch {
	case !r.lastXact.IsZero():
		parts = append(parts, "last transaction at "+r.lastXact.UTC().Format(time.RFC3339Nano))
	case r.lastXactRaw != "":
		parts = append(parts, "last transaction at "+r.lastXactRaw)
	case !r.stopTime.IsZero():
		parts = append(parts, "the transaction of "+r.stopTime.UTC().Format(time.RFC3339Nano))
	}
	if len(parts) == 0 {
		return "an unknown point (no transaction replayed)"
	}
	return strings.Join(parts, ", ")
}

// parsePGTime reads timestamptz_to_str's output: 2026-12-03 08:41:02.123456+00.
func parsePGTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}
