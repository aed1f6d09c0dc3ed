package spec

import (
	"os"
	"os/exec"
	"testing"
)

// calendarCases are expressions from systemd.time(7) and mistakes users
// make; TestCalendarSystemd checks that parseCalendar agrees with
// systemd-analyze on each.
var calendarCases = []string{
	"daily", "Hourly", "weekly", "minutely", "quarterly", "semiannually", "annually",
	"*:0/15", "02:00", "*:30", "*-*-* 02:00:00", "Mon..Fri 09:00", "Mon-Fri 09:00", "Sat,Sun 10:00",
	"mon,fri 10:00", "Wed..Sat,Tue 12-10-15 1:2:3", "*-*-01 00:00:00", "2026-12-03", "*-02~03",
	"Mon *-05~07/1", "*-*-* *:*:00.5", "12:00 Europe/Berlin", "00:00:00 Asia/Tokyo", "10:00 UTC",
	"*-*-* 02:00:00 UTC", "Monday 08..18/2:00", "*-1,7-1", "Fri *-*-13", "*-*-1/2", "Mon..Fri",
	"Sat 2026-*-*", "@1700000000", "*-*-* 8,20:00",
	"", "tomorrow", "every day", "Sun 27:00", "Mon..Fri 25:00", "*:61", "*:0/0", "*-13-01",
	"*-*-32", "*:x", "1:2:3:4", "*-*-*-*", "02:00 03:00", "*-*-* 5..2:00", "Funday 10:00",
	"daily 10:00", "*-*-* 02:00:60", "10:00 Mars/Olympus", "@", "*-*-* 24:00",
}

func TestCalendarSystemd(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("TEND_REQUIRE_REAL") != "" {
			t.Fatal("TEND_REQUIRE_REAL is set but systemd-analyze is not on the PATH")
		}
		t.Skip("systemd-analyze not on the PATH")
	}
	for _, e := range calendarCases {
		hostOK := exec.Command(analyze, "calendar", e).Run() == nil
		err := parseCalendar(e)
		if hostOK != (err == nil) {
			t.Errorf("%q: systemd-analyze accepts: %v; parseCalendar: %v", e, hostOK, err)
		}
	}
}
