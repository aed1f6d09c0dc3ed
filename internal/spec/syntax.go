package spec

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Values with a syntax the host would check are checked here first, so
// that validate reports them with their position instead of an apply
// failing halfway on the host. Each parser returns nil or an error saying
// what is wrong with the value; the checker methods place it at the field.

// controlChar returns the first control character in s, if any.
func controlChar(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}

// calendarShorthands are systemd.time(7)'s special expressions.
var calendarShorthands = []string{"minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually", "quarterly", "semiannually"}

var (
	weekdayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	tzRE         = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
)

// parseCalendar checks a systemd calendar expression (systemd.time(7)):
// a shorthand (daily, hourly...) or "[WEEKDAYS] [[YEAR-]MONTH-DAY]
// [HOUR:MINUTE[:SECOND]] [TIMEZONE]", each component "*", a number, a
// range "A..B" or a list "A,B", optionally repeated "/N"; "~" counts days
// from the end of the month. It checks the shape and the ranges, as
// systemd-analyze calendar would.
func parseCalendar(s string) error {
	f := strings.Fields(s)
	if len(f) == 0 {
		return fmt.Errorf("empty")
	}
	if len(f) == 1 && containsFold(calendarShorthands, f[0]) {
		return nil
	}
	if len(f) == 1 && strings.HasPrefix(f[0], "@") {
		if _, err := strconv.ParseUint(f[0][1:], 10, 63); err != nil {
			return fmt.Errorf("%q is not @ followed by seconds since 1970", f[0])
		}
		return nil
	}
	i := 0
	if isWeekdays(f[0]) {
		if err := parseWeekdays(f[0]); err != nil {
			return err
		}
		i++
	}
	var date, clock bool
	for ; i < len(f); i++ {
		t := f[i]
		switch {
		case strings.Contains(t, ":") && !clock:
			if err := parseClock(t); err != nil {
				return err
			}
			clock = true
		case (strings.Contains(t, "-") || strings.Contains(t, "~")) && !date && !clock && t[0] != '-' && !isLetter(t[0]):
			if err := parseDate(t); err != nil {
				return err
			}
			date = true
		case i == len(f)-1 && i > 0 && tzRE.MatchString(t):
			if !knownZone(t) {
				return fmt.Errorf("unknown time zone %q", t)
			}
		default:
			return fmt.Errorf("unexpected %q", t)
		}
	}
	return nil
}

// knownZone reports whether tz is a time zone the tz database knows. When
// the control machine has no tz database at all, any name passes: only the
// host can tell.
func knownZone(tz string) bool {
	if _, err := time.LoadLocation(tz); err == nil {
		return true
	}
	_, err := time.LoadLocation("Europe/Paris")
	return err != nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func isWeekdays(t string) bool { return isLetter(t[0]) && !strings.ContainsAny(t, ":/") }

func weekday(s string) bool {
	l := strings.ToLower(s)
	for _, d := range weekdayNames {
		if l == d || len(l) > 3 && strings.HasPrefix(l, d) && containsFold([]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}, l) {
			return true
		}
	}
	return false
}

func parseWeekdays(t string) error {
	for _, item := range strings.Split(t, ",") {
		sep := ".."
		if !strings.Contains(item, sep) {
			sep = "-"
		}
		for _, d := range strings.SplitN(item, sep, 2) {
			if !weekday(d) {
				return fmt.Errorf("%q is not a weekday (Mon, Tue... or Monday...)", d)
			}
		}
	}
	return nil
}

// parseDate checks [YEAR-]MONTH-DAY, or [YEAR-]MONTH~DAY (DAY counted
// from the end of the month).
func parseDate(t string) error {
	var parts []string
	if before, after, ok := strings.Cut(t, "~"); ok {
		parts = append(strings.Split(before, "-"), after)
	} else {
		parts = strings.Split(t, "-")
	}
	type bound struct {
		name     string
		min, max int
	}
	var bounds []bound
	switch len(parts) {
	case 2:
		bounds = []bound{{"month", 1, 12}, {"day", 1, 31}}
	case 3:
		bounds = []bound{{"year", 0, 2199}, {"month", 1, 12}, {"day", 1, 31}}
	default:
		return fmt.Errorf("date %q must be YEAR-MONTH-DAY or MONTH-DAY", t)
	}
	for i, p := range parts {
		if err := calendarComponent(p, bounds[i].name, bounds[i].min, bounds[i].max, false); err != nil {
			return err
		}
	}
	return nil
}

// parseClock checks HOUR:MINUTE[:SECOND].
func parseClock(t string) error {
	parts := strings.Split(t, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return fmt.Errorf("time %q must be HOUR:MINUTE or HOUR:MINUTE:SECOND", t)
	}
	names := []string{"hour", "minute", "second"}
	maxes := []int{23, 59, 59}
	for i, p := range parts {
		if err := calendarComponent(p, names[i], 0, maxes[i], i == 2); err != nil {
			return err
		}
	}
	return nil
}

// calendarComponent checks one component: "*", or a list of N, A..B,
// each optionally followed by /STEP. Seconds may have a fraction.
func calendarComponent(p, name string, min, max int, fraction bool) error {
	if p == "" {
		return fmt.Errorf("empty %s", name)
	}
	return numberList(p, name, min, max, listForm{rangeSep: "..", step: "repetition", fraction: fraction})
}

// listForm is how a list of numbers is written: systemd calendars say
// A..B and call /N a repetition; cron says A-B, calls /N a step and wants
// a range (or *) before it.
type listForm struct {
	rangeSep, step string
	fraction       bool // a number may have a fraction (seconds)
	stepNeedsRange bool
}

// numberList checks a list of "*", N or ranges, each optionally followed
// by /STEP, every number between min and max.
func numberList(p, name string, min, max int, form listForm) error {
	num := func(s string) (int, error) {
		if form.fraction {
			if w, frac, ok := strings.Cut(s, "."); ok {
				if _, err := strconv.ParseUint(frac, 10, 32); err != nil {
					return 0, fmt.Errorf("%s %q is not a number", name, s)
				}
				s = w
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s %q is not a number", name, s)
		}
		if n < min || n > max {
			return 0, fmt.Errorf("%s %d is out of range %d-%d", name, n, min, max)
		}
		return n, nil
	}
	for _, item := range strings.Split(p, ",") {
		val, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return fmt.Errorf("%s %s %q must be a positive number", name, form.step, step)
			}
		}
		if val == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(val, form.rangeSep)
		a, err := num(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := num(hi)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("%s range %s is backwards", name, val)
			}
		} else if hasStep && form.stepNeedsRange {
			return fmt.Errorf("%s %q: a step needs * or a range before it", name, item)
		}
	}
	return nil
}

var (
	cronSpecials = []string{"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
	cronMonths   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	cronDays     = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// parseCron checks a crontab(5) schedule: @daily and the like, or five
// fields (minute hour day-of-month month day-of-week), each "*" or a list
// of N or A-B, optionally followed by /STEP. Month and weekday take names
// (jan, mon), alone as Debian's cron requires.
func parseCron(s string) error {
	f := strings.Fields(s)
	if len(f) == 1 && strings.HasPrefix(f[0], "@") {
		if !containsFold(cronSpecials, f[0]) {
			return fmt.Errorf("%s is not one of %s", f[0], strings.Join(cronSpecials, ", "))
		}
		return nil
	}
	if len(f) != 5 {
		return fmt.Errorf("needs five fields (minute hour day month weekday) or @hourly/@daily/..., not %d", len(f))
	}
	fields := []struct {
		name     string
		min, max int
		names    []string
	}{
		{"minute", 0, 59, nil},
		{"hour", 0, 23, nil},
		{"day of month", 1, 31, nil},
		{"month", 1, 12, cronMonths},
		{"day of week", 0, 7, cronDays},
	}
	for i, d := range fields {
		if d.names != nil && containsFold(d.names, f[i]) {
			continue
		}
		if err := cronField(f[i], d.name, d.min, d.max); err != nil {
			return err
		}
	}
	return nil
}

func cronField(p, name string, min, max int) error {
	return numberList(p, name, min, max, listForm{rangeSep: "-", step: "step", stepNeedsRange: true})
}

var hbaHostRE = regexp.MustCompile(`^\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// parseHBAAddress checks a pg_hba.conf address: an IP range in CIDR form,
// all, samehost, samenet, or a host name (".example.com" for a suffix).
func parseHBAAddress(s string) error {
	switch s {
	case "all", "samehost", "samenet":
		return nil
	}
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not an address range such as 10.0.0.0/8 or fd00::/8", s)
		}
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return fmt.Errorf("%q needs a prefix length, e.g. %s/%d for this address alone", s, s, a.BitLen())
	}
	if numericRE.MatchString(s) || strings.Contains(s, ":") || !hbaHostRE.MatchString(s) {
		return fmt.Errorf("%q is not an address range (10.0.0.0/8), all, samehost, samenet or a host name", s)
	}
	return nil
}

// parseHBAList checks a pg_hba.conf database or user field: names
// separated by commas, each a plain word (all, replication, +group, @file,
// a name) or a double-quoted name. The fields of an entry are separated by
// whitespace and '#' starts a comment, so neither may appear unquoted.
func parseHBAList(s string) error {
	for _, item := range strings.Split(s, ",") {
		switch {
		case item == "":
			return fmt.Errorf("%q has an empty name in its comma-separated list", s)
		case strings.HasPrefix(item, `"`):
			if len(item) < 3 || !strings.HasSuffix(item, `"`) || strings.Contains(item[1:len(item)-1], `"`) {
				return fmt.Errorf("%q: a quoted name is one \"...\" without quotes inside", s)
			}
		case strings.ContainsAny(item, " \t\"#"):
			return fmt.Errorf("%q: a name with spaces, '#' or quotes must be in double quotes (\"my db\")", s)
		}
	}
	return nil
}

// calendar checks a field holding a systemd calendar expression.
func (c *checker) calendar(field, v string) {
	if c.line(field, v) && c.lit(v) && v != "" {
		if err := parseCalendar(v); err != nil {
			c.errf(field, "%s %q is not a systemd calendar expression (such as daily, Mon..Fri 02:00 or *:0/15): %v", field, v, err)
		}
	}
}

// lineChar returns the first control character of s that cannot stand in
// one line of a configuration file: every one but the tab.
func lineChar(s string) (rune, bool) {
	for _, r := range s {
		if r != '\t' && unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}

// line checks a field whose value tend writes into one line of a file on
// the host (a pg_hba.conf entry, a unit's ExecStart=, a crontab entry): a
// newline there would start another entry or directive of the value's
// choosing, a NUL cut it short. It reports whether v is one line. A field
// still holding a template at load time is checked once rendered.
func (c *checker) line(field, v string) bool {
	if !c.lit(v) {
		return true
	}
	if ch, ok := lineChar(v); ok {
		c.errf(field, "%s holds the control character %q: it is written into one line of a configuration file on the host, where a newline would start another entry; give it on one line of printable text", field, ch)
		return false
	}
	return true
}

// lines checks fields with line, in order, and reports whether all are
// one line each.
func (c *checker) lines(fields ...[2]string) bool {
	ok := true
	for _, f := range fields {
		ok = c.line(f[0], f[1]) && ok
	}
	return ok
}

var (
	scpRE     = regexp.MustCompile(`^([A-Za-z0-9_.][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):[^:]`)
	helperRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+.-]*::`)
	gitHostRE = regexp.MustCompile(`^([A-Za-z0-9_.~%][A-Za-z0-9._~%-]*(:[^@/]*)?@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?$`)
)

// parseGitURL checks a repository URL git fetches from the host over a
// transport tend allows by default: https://, ssh://, scp-like
// [user@]host:path, file:// or an absolute path. Other transports are
// refused: git:// and http:// are unauthenticated, and ext:: or other
// "helper::address" forms run commands of the URL's choosing.
func parseGitURL(s string) error {
	if strings.HasPrefix(s, "/") {
		return nil
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok && !strings.Contains(scheme, ":") {
		authority, _, _ := strings.Cut(rest, "/")
		switch strings.ToLower(scheme) {
		case "file":
			if !strings.HasPrefix(rest, "/") {
				return fmt.Errorf("a file:// URL names an absolute path (file:///srv/app.git)")
			}
			return nil
		case "https", "ssh", "git+ssh", "ssh+git":
			if !gitHostRE.MatchString(authority) {
				return fmt.Errorf("%q is not a host name or address (a host cannot start with '-')", authority)
			}
			return nil
		default:
			return fmt.Errorf("the %s:// transport is not allowed (use https://, ssh://, user@host:path, file:// or an absolute path)", scheme)
		}
	}
	if helperRE.MatchString(s) {
		return fmt.Errorf("a remote helper (transport::address) runs a program of the URL's choosing")
	}
	if scpRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("not an https://, ssh://, user@host:path or file:// URL, nor an absolute path")
}
