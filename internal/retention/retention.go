// Package retention decides which of a series of timed items (snapshots,
// base backups, dated replica copies) a keep policy retains, with restic's
// `forget --keep-*` semantics, and says why each kept item is kept.
package retention

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Unlimited as a count keeps one item in every period that has one.
const Unlimited = -1

// Policy says which items to keep. A count N keeps the newest item of each
// of the N most recent periods (hours, days, ISO weeks, months, years) that
// have an item; periods are read in the location of each item's Time.
// Last keeps the N newest items. Within keeps every item less than Within
// older than the newest item. Unlimited (-1) as a count means every period.
// The rules add up: an item is kept when any rule keeps it.
//
// This is restic's policy as restic 0.14 (Debian 12) applies it. Later
// restic versions also keep the oldest item when a rule has counts left;
// this package does not.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       time.Duration
}

// Item is one thing to keep or forget.
type Item struct {
	ID   string
	Time time.Time
}

// Decision is the verdict on one item. Reasons lists every rule that keeps
// it, in the order "within D", "last", "hourly", "daily", "weekly",
// "monthly", "yearly"; it is empty when the item is to be forgotten.
type Decision struct {
	Item    Item
	Keep    bool
	Reasons []string
}

// Empty reports whether the policy has no rule. Apply then keeps
// everything, but callers should refuse to run with an empty policy rather
// than risk a typo meaning "forget everything".
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 &&
		p.Monthly == 0 && p.Yearly == 0 && p.Within == 0
}

// Validate reports counts below Unlimited and a negative Within.
func (p Policy) Validate() error {
	for _, r := range p.rules() {
		if r.count < Unlimited {
			return fmt.Errorf("keep %s %d: a count must be positive, 0 (no rule) or -1 (unlimited)", r.name, r.count)
		}
	}
	if p.Within < 0 {
		return fmt.Errorf("keep within %s: a duration must not be negative", p.Within)
	}
	return nil
}

type rule struct {
	name   string
	count  int
	bucket func(t time.Time, n int) int
}

func (p Policy) rules() []rule {
	return []rule{
		{"last", p.Last, func(_ time.Time, n int) int { return n }},
		{"hourly", p.Hourly, func(t time.Time, _ int) int {
			return ((t.Year()*100+int(t.Month()))*100+t.Day())*100 + t.Hour()
		}},
		{"daily", p.Daily, func(t time.Time, _ int) int { return (t.Year()*100+int(t.Month()))*100 + t.Day() }},
		{"weekly", p.Weekly, func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }},
		{"monthly", p.Monthly, func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }},
		{"yearly", p.Yearly, func(t time.Time, _ int) int { return t.Year() }},
	}
}

// Apply decides for every item and returns the decisions newest first
// (equal times ordered by ID), whatever the order of items. It never looks
// at IDs except to break ties, so names cannot change the outcome. With an
// empty policy every item is kept, with the reason "policy is empty".
func (p Policy) Apply(items []Item) []Decision {
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b Item) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	out := make([]Decision, len(sorted))
	if p.Empty() {
		for i, it := range sorted {
			out[i] = Decision{Item: it, Keep: true, Reasons: []string{"policy is empty"}}
		}
		return out
	}
	rules := p.rules()
	left := make([]int, len(rules))
	last := make([]int, len(rules))
	for i, r := range rules {
		left[i] = r.count
		last[i] = -1
	}
	var cutoff time.Time
	if len(sorted) > 0 {
		cutoff = sorted[0].Time.Add(-p.Within)
	}
	for n, it := range sorted {
		d := Decision{Item: it}
		if p.Within > 0 && it.Time.After(cutoff) {
			d.Reasons = append(d.Reasons, "within "+FormatDuration(p.Within))
		}
		for i, r := range rules {
			if left[i] <= 0 && left[i] != Unlimited {
				continue
			}
			if b := r.bucket(it.Time, n); b != last[i] {
				last[i] = b
				if left[i] > 0 {
					left[i]--
				}
				d.Reasons = append(d.Reasons, r.name)
			}
		}
		d.Keep = len(d.Reasons) > 0
		out[n] = d
	}
	return out
}

// String describes the policy, e.g. "keep last 3, daily 7, within 2d".
func (p Policy) String() string {
	if p.Empty() {
		return "keep everything (no rule)"
	}
	var parts []string
	for _, r := range p.rules() {
		switch {
		case r.count == Unlimited:
			parts = append(parts, r.name+" unlimited")
		case r.count != 0:
			parts = append(parts, r.name+" "+strconv.Itoa(r.count))
		}
	}
	if p.Within != 0 {
		parts = append(parts, "within "+FormatDuration(p.Within))
	}
	return "keep " + strings.Join(parts, ", ")
}

// Units of ParseDuration. Months and years have fixed lengths (30 and 365
// days): a retention window does not need calendar precision.
const (
	Day   = 24 * time.Hour
	Week  = 7 * Day
	Month = 30 * Day
	Year  = 365 * Day
)

type unit struct {
	sym string
	d   time.Duration
}

var units = []unit{{"y", Year}, {"m", Month}, {"w", Week}, {"d", Day}, {"h", time.Hour}}

// ParseDuration reads a duration written as numbers with units, largest
// first, each unit at most once: y (365 days), m (months of 30 days, as in
// restic, not minutes), w (weeks), d (days), h (hours). Examples: "2d",
// "36h", "1w", "1y2m3d4h".
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New(`empty duration: write for example "7d", "36h" or "1y2m"`)
	}
	var total time.Duration
	rest := s
	next := 0 // index in units of the next unit allowed
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		num := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("duration %q: %s has no unit (y, m, w, d or h)", s, num)
		}
		sym := rest[:j]
		rest = rest[j:]
		u := slices.IndexFunc(units, func(u unit) bool { return u.sym == sym })
		switch {
		case u < 0:
			return 0, fmt.Errorf("duration %q: unknown unit %q: use y (years), m (months), w (weeks), d (days) or h (hours)", s, sym)
		case u < next:
			return 0, fmt.Errorf("duration %q: unit %q repeated or out of order: write units largest first (y, m, w, d, h), each once", s, sym)
		}
		next = u + 1
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > int64(maxDuration/units[u].d) {
			return 0, fmt.Errorf("duration %q: %s%s is too long", s, num, sym)
		}
		add := time.Duration(n) * units[u].d
		if total > maxDuration-add {
			return 0, fmt.Errorf("duration %q: too long", s)
		}
		total += add
	}
	return total, nil
}

const maxDuration = time.Duration(1<<63 - 1)

// FormatDuration writes d in ParseDuration's units without months or weeks,
// which read less clearly: "2d", "1d12h", "1y10d". A part below an hour
// (only possible in a Policy built in code) is appended in Go's notation.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0h"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []unit{{"y", Year}, {"d", Day}, {"h", time.Hour}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.sym)
			d -= n * u.d
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}
