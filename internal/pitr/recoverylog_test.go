package pitr

import (
	"strings"
	"testing"
	"time"
)

// The lines are PostgreSQL 15's, as the Debian cluster log writes them.
func TestParseRecoveryLog(t *testing.T) {
	ended := `2026-12-03 08:41:02.100 UTC [812] LOG:  starting point-in-time recovery to WAL location (LSN) "FFFFFFFF/FFFFFFFF"
2026-12-03 08:41:02.300 UTC [812] LOG:  restored log file "000000010000000000000005" from archive
2026-12-03 08:41:02.400 UTC [812] LOG:  redo done at 0/5000148 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.21 s
2026-12-03 08:41:02.400 UTC [812] LOG:  last completed transaction was at log time 2026-12-03 08:40:58.123456+00
2026-12-03 08:41:02.400 UTC [812] FATAL:  recovery ended before configured recovery target was reached
2026-12-03 08:41:02.410 UTC [810] LOG:  startup process (PID 812) exited with exit code 1
`
	r := parseRecoveryLog(ended)
	if !r.endedBeforeTarget || r.stopped || !r.hasRedoDone || r.redoDone != LSN(0x5000148) {
		t.Errorf("ended: %+v", r)
	}
	if want := time.Date(2026, 12, 3, 8, 40, 58, 123456000, time.UTC); !r.lastXact.Equal(want) {
		t.Errorf("last transaction %v, want %v", r.lastXact, want)
	}
	if got, want := r.reached(), "LSN 0/5000148, last transaction at 2026-12-03T08:40:58.123456Z"; got != want {
		t.Errorf("reached() = %q, want %q", got, want)
	}

	stopped := `2026-12-03 08:42:00.000 UTC [900] LOG:  starting point-in-time recovery to 2026-12-03 08:40:57.5+00
2026-12-03 08:42:00.500 UTC [900] LOG:  recovery stopping before commit of transaction 741, time 2026-12-03 08:40:58.123456+00
2026-12-03 08:42:00.510 UTC [898] LOG:  shutdown at recovery target
`
	r = parseRecoveryLog(stopped)
	if r.endedBeforeTarget || !r.stopped || !r.stopBefore || r.hasRedoDone {
		t.Errorf("stopped: %+v", r)
	}
	if want := time.Date(2026, 12, 3, 8, 40, 58, 123456000, time.UTC); !r.stopTime.Equal(want) {
		t.Errorf("stop time %v, want %v", r.stopTime, want)
	}

	lsn := `2026-12-03 08:43:00.000 UTC [950] LOG:  recovery stopping after WAL location (LSN) "0/5000148"`
	if r := parseRecoveryLog(lsn); !r.stopped || r.stopBefore {
		t.Errorf("LSN stop: %+v", r)
	}
	if r := parseRecoveryLog("FATAL:  could not restore file \"000000010000000000000004\" from archive: child process exited with exit code 126\n"); r.stopped || r.endedBeforeTarget {
		t.Errorf("a failed fetch read as an end: %+v", r)
	}
	if got := parseRecoveryLog("").reached(); got == "" {
		t.Error("reached() of nothing is empty")
	}
}

func TestCheckStop(t *testing.T) {
	w := &Window{Backup: Backup{Timeline: 1, SegSize: segSize}, Last: segName(7)}
	target := time.Date(2026, 12, 3, 8, 40, 57, 0, time.UTC)
	at := func(no uint64) recoveryStop {
		return recoveryStop{endedBeforeTarget: true, hasRedoDone: true, redoDone: lsnIn(no, 0x148), lastXact: target}
	}
	for _, c := range []struct {
		name   string
		target Target
		stop   recoveryStop
		want   string // a fragment of the error, "" for none
	}{
		{"latest at the last segment", Target{Latest: true}, at(7), ""},
		{"latest short of the archive", Target{Latest: true}, at(5), "recovery reached only LSN 0/5000148, last transaction at 2026-12-03T08:40:57Z (segment 000000010000000000000005) but the archive holds WAL up to 000000010000000000000007"},
		{"latest, the server failed", Target{Latest: true}, recoveryStop{}, "nothing was promoted"},
		{"time reached", Target{Time: target}, recoveryStop{stopped: true, stopBefore: true, stopTime: target.Add(time.Millisecond)}, ""},
		{"time beyond the archive", Target{Time: target}, at(7), "the archive ends before 2026-12-03T08:40:57Z: recovery reached LSN 0/7000148"},
		{"time, the server failed", Target{Time: target}, recoveryStop{hasRedoDone: true}, "nothing was promoted"},
		{"time, stopped too early", Target{Time: target}, recoveryStop{stopped: true, stopBefore: true, stopTime: target}, "not after the target"},
	} {
		err := checkStop(c.target, w, c.stop)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
