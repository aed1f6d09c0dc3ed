package spec

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The parsers accept what the host's tools accept (examples from
// systemd.time(7) and crontab(5)) and refuse, with the reason, what they
// would refuse.
func TestCalendar(t *testing.T) {
	for _, ok := range []string{
		"daily", "Hourly", "weekly", "minutely", "*:0/15", "02:00", "*-*-* 02:00:00",
		"Mon..Fri 09:00", "Sat,Sun 10:00", "Wed..Sat,Tue 12-10-15 1:2:3", "*-*-01 00:00:00",
		"2026-12-03", "*-02~03", "Mon *-05~07/1", "*-*-* *:*:00.5", "12:00 Europe/Berlin",
		"*-*-* 02:00:00 UTC", "Monday 08..18/2:00", "*-1,7-1",
	} {
		if err := parseCalendar(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"":               "empty",
		"every day":      `"every" is not a weekday`,
		"Mon..Fri 25:00": "hour 25 is out of range 0-23",
		"*:61":           "minute 61 is out of range",
		"*-13-01":        "month 13 is out of range",
		"*-*-32":         "day 32 is out of range",
		"*:0/0":          "repetition",
		"*:x":            `minute "x" is not a number`,
		"1:2:3:4":        "HOUR:MINUTE",
		"*-*-*-*":        "YEAR-MONTH-DAY",
		"02:00 03:00":    "unexpected",
		"*-*-* 5..2:00":  "backwards",
	} {
		err := parseCalendar(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestCron(t *testing.T) {
	for _, ok := range []string{"@daily", "@reboot", "*/5 * * * *", "0 2 * * 1-5", "0,30 8-18/2 1 jan mon", "0 0 1 DEC *", "0 0 * * 7"} {
		if err := parseCron(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"@nightly":        "is not one of",
		"* * *":           "five fields",
		"60 * * * *":      "minute 60 is out of range 0-59",
		"* 24 * * *":      "hour 24",
		"* * 0 * *":       "day of month 0",
		"* * * 13 *":      "month 13",
		"* * * * 8":       "day of week 8",
		"*/0 * * * *":     "step",
		"5/2 * * * *":     "needs * or a range",
		"9-3 * * * *":     "backwards",
		"* * * jan-mar *": "not a number",
	} {
		err := parseCron(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestHBAAddress(t *testing.T) {
	for _, ok := range []string{"10.0.0.0/8", "192.168.1.5/32", "fd00::/8", "::1/128", "all", "samehost", "samenet", "db.example.com", ".example.com"} {
		if err := parseHBAAddress(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"10.0.0.0/33":  "not an address range",
		"fd00::/129":   "not an address range",
		"10.0.0.5":     "10.0.0.5/32",
		"::1":          "::1/128",
		"10.0.0":       "not an address range",
		"bad host":     "not an address range",
		"10.0.0.0/8 x": "not an address range",
	} {
		err := parseHBAAddress(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestHBAList(t *testing.T) {
	for _, ok := range []string{"all", "app", "app,reports", "replication", "+admins", "@users.txt", `"my db"`, `app,"Big Name"`} {
		if err := parseHBAList(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"my db": "double quotes",
		"app#x": "double quotes",
		"app,":  "empty name",
		`"open`: "quoted name",
		`"a"b"`: "quoted name",
		"a\tb":  "double quotes",
	} {
		err := parseHBAList(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestUnitName(t *testing.T) {
	for name, want := range map[string]string{
		"nginx":                  "",
		"postgresql@15-main":     "",
		"app-worker_2":           "",
		`sys-devices-x\x2dy`:     "",
		"nginx.service":          "without .service",
		"-x":                     "cannot start",
		"a@b@c":                  "at most one '@'",
		"@x":                     "at most one '@'",
		"bad name":               "systemd unit name",
		strings.Repeat("a", 250): "at most 247",
	} {
		errs := ErrorList{}
		r := &Resource{Kind: KindService, Name: name, Spec: new(Service), nodes: map[string]*yaml.Node{}}
		(&checker{r: r, errs: &errs}).unit(".service")
		switch {
		case want == "" && len(errs) > 0:
			t.Errorf("%q refused: %v", name, errs)
		case want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Msg, want)):
			t.Errorf("%q: errors %v, want one containing %q", name, errs, want)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"content", "template", "source", "mode", "owner", "group", "address", "addresses"}
	for in, want := range map[string]string{
		"conten": "content", "contnet": "content", "mod": "mode", "adress": "address",
		"Owner": "owner", "x": "", "size": "", "addresse": "", "groups": "group",
	} {
		if got := nearest(in, known); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
}
