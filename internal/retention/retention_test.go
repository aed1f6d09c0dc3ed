package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the golden files use Europe/Paris whatever the machine has

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the reference files in testdata/")

func paris(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "2d", want: 48 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "0h", want: 0},
		{in: "1y2m3d4h", want: Year + 2*Month + 3*Day + 4*time.Hour},
		{in: "1y1w", want: Year + Week},
		{in: "", wantErr: "empty duration"},
		{in: "2", wantErr: `duration "2": 2 has no unit`},
		{in: "d", wantErr: `expected a number at "d"`},
		{in: "2s", wantErr: `unknown unit "s"`},
		{in: "5min", wantErr: `unknown unit "min"`},
		{in: "1d1d", wantErr: `unit "d" repeated or out of order`},
		{in: "1h1d", wantErr: `unit "d" repeated or out of order`},
		{in: "-1d", wantErr: `expected a number at "-1d"`},
		{in: "2 d", wantErr: `2 has no unit`},
		{in: "99999999999999y", wantErr: "too long"},
		{in: "200y200y", wantErr: "repeated"},
		{in: "290y", want: 290 * Year},
		{in: "300y", wantErr: "too long"},
		{in: "292y365d", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatDurationRoundTrip(t *testing.T) {
	for _, s := range []string{"2d", "1d12h", "1y", "1y10d3h", "5h"} {
		d, err := ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatDuration(d); got != s {
			t.Errorf("FormatDuration(ParseDuration(%q)) = %q", s, got)
		}
	}
	if got := FormatDuration(36 * time.Hour); got != "1d12h" {
		t.Errorf("FormatDuration(36h) = %q", got)
	}
	if got := FormatDuration(90 * time.Minute); got != "1h30m0s" {
		t.Errorf("FormatDuration(90m) = %q", got)
	}
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{Policy{}, "keep everything (no rule)"},
		{Policy{Last: 3, Daily: 7, Within: 48 * time.Hour}, "keep last 3, daily 7, within 2d"},
		{Policy{Hourly: 24, Weekly: Unlimited}, "keep hourly 24, weekly unlimited"},
		{Policy{Monthly: 12, Yearly: 5}, "keep monthly 12, yearly 5"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEmptyAndValidate(t *testing.T) {
	if !(Policy{}).Empty() {
		t.Error("zero policy is not Empty")
	}
	for _, p := range []Policy{{Last: 1}, {Yearly: -1}, {Within: time.Hour}} {
		if p.Empty() {
			t.Errorf("%+v is Empty", p)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: Validate: %v", p, err)
		}
	}
	for _, p := range []Policy{{Daily: -2}, {Within: -time.Hour}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", p)
		}
	}
}

// decisionsText renders decisions one per line: "id keep reasons".
func decisionsText(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		verdict := "forget"
		if d.Keep {
			verdict = "keep " + strings.Join(d.Reasons, ",")
		}
		out = append(out, d.Item.ID+" "+verdict)
	}
	return out
}

func TestApply(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// Names deliberately sort against time.
	items := []Item{
		{"z", utc("2024-01-01 10:00")},
		{"y", utc("2024-01-01 11:30")},
		{"x", utc("2024-01-01 11:10")},
		{"w", utc("2024-01-02 09:00")},
		{"v", utc("2024-01-08 09:00")}, // Monday: a new ISO week
		{"u", utc("2024-02-01 00:00")},
	}
	tests := []struct {
		name string
		p    Policy
		want []string
	}{
		{"empty keeps all", Policy{}, []string{
			"u keep policy is empty", "v keep policy is empty", "w keep policy is empty",
			"y keep policy is empty", "x keep policy is empty", "z keep policy is empty"}},
		{"last 2", Policy{Last: 2}, []string{
			"u keep last", "v keep last", "w forget", "y forget", "x forget", "z forget"}},
		{"hourly 3: newest of each hour", Policy{Hourly: 3}, []string{
			"u keep hourly", "v keep hourly", "w keep hourly", "y forget", "x forget", "z forget"}},
		{"hourly 4 skips older item of same hour", Policy{Hourly: 4}, []string{
			"u keep hourly", "v keep hourly", "w keep hourly", "y keep hourly", "x forget", "z forget"}},
		{"daily unlimited", Policy{Daily: Unlimited}, []string{
			"u keep daily", "v keep daily", "w keep daily", "y keep daily", "x forget", "z forget"}},
		{"weekly 2", Policy{Weekly: 2}, []string{
			"u keep weekly", "v keep weekly", "w forget", "y forget", "x forget", "z forget"}},
		{"monthly 5 with fewer months", Policy{Monthly: 5}, []string{
			"u keep monthly", "v keep monthly", "w forget", "y forget", "x forget", "z forget"}},
		{"yearly", Policy{Yearly: 1}, []string{
			"u keep yearly", "v forget", "w forget", "y forget", "x forget", "z forget"}},
		{"within is strict and relative to the newest", Policy{Within: utc("2024-02-01 00:00").Sub(utc("2024-01-02 09:00"))}, []string{
			"u keep within 29d15h", "v keep within 29d15h", "w forget", "y forget", "x forget", "z forget"}},
		{"several reasons", Policy{Last: 1, Daily: 2, Weekly: 1, Within: time.Hour}, []string{
			"u keep within 1h,last,daily,weekly", "v keep daily", "w forget", "y forget", "x forget", "z forget"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decisionsText(tt.p.Apply(items))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: Apply (-want +got):\n%s", tt.p, diff)
			}
		})
	}
}

func TestApplyTiesAndOrder(t *testing.T) {
	tm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	items := []Item{{"b", tm}, {"c", tm.Add(-time.Hour)}, {"a", tm}}
	p := Policy{Last: 1, Hourly: 5}
	want := []string{"a keep last,hourly", "b forget", "c keep hourly"}
	for i := range 10 {
		shuffled := append([]Item(nil), items...)
		rand.New(rand.NewPCG(uint64(i), 1)).Shuffle(len(shuffled), func(a, b int) {
			shuffled[a], shuffled[b] = shuffled[b], shuffled[a]
		})
		if diff := cmp.Diff(want, decisionsText(p.Apply(shuffled))); diff != "" {
			t.Fatalf("order %v (-want +got):\n%s", shuffled, diff)
		}
	}
	if got := p.Apply(nil); len(got) != 0 {
		t.Errorf("Apply(nil) = %v", got)
	}
}

func TestBucketsUseItemLocation(t *testing.T) {
	loc := paris(t)
	// 23:30 in Paris on two days is 22:30 UTC: the same local day never
	// merges with the next one, whatever the machine's time zone.
	a := Item{"a", time.Date(2024, 3, 1, 23, 30, 0, 0, loc)}
	b := Item{"b", time.Date(2024, 3, 2, 0, 30, 0, 0, loc)}
	got := decisionsText(Policy{Daily: 2}.Apply([]Item{a, b}))
	if diff := cmp.Diff([]string{"b keep daily", "a keep daily"}, got); diff != "" {
		t.Error(diff)
	}
	// The same instants in UTC are one day: 22:30 and 23:30 on March 1.
	got = decisionsText(Policy{Daily: 2}.Apply([]Item{{"a", a.Time.UTC()}, {"b", b.Time.UTC()}}))
	if diff := cmp.Diff([]string{"b keep daily", "a forget"}, got); diff != "" {
		t.Error(diff)
	}
}

// simulated is a year of daily items at 23:30 Paris time (2023-03-01 to
// 2024-02-27) followed by 48 hourly items at HH:15 on 2024-02-28 and
// 2024-02-29. IDs are hashes, so their order says nothing about time.
func simulated(t testing.TB) []Item {
	loc := paris(t)
	var items []Item
	add := func(tm time.Time) {
		h := sha256.Sum256([]byte(tm.Format(time.RFC3339)))
		items = append(items, Item{ID: hex.EncodeToString(h[:4]), Time: tm})
	}
	for d := time.Date(2023, 3, 1, 23, 30, 0, 0, loc); d.Before(time.Date(2024, 2, 28, 0, 0, 0, 0, loc)); d = d.AddDate(0, 0, 1) {
		add(d)
	}
	for h := range 48 {
		add(time.Date(2024, 2, 28, h, 15, 0, 0, loc))
	}
	return items
}

var goldenPolicies = []struct {
	file string
	p    Policy
}{
	{"hourly.golden", Policy{Last: 3, Hourly: 24, Daily: 7}},
	{"calendar.golden", Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3}},
	{"within.golden", Policy{Within: 2 * Day, Monthly: 6}},
	{"unlimited.golden", Policy{Last: 5, Weekly: Unlimited}},
}

func renderDecisions(p Policy, ds []Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n# time (Europe/Paris)             id        decision\n", p)
	kept := 0
	for _, d := range ds {
		y, w := d.Item.Time.ISOWeek()
		verdict := "forget"
		if d.Keep {
			kept++
			verdict = "keep   " + strings.Join(d.Reasons, ", ")
		}
		fmt.Fprintf(&b, "%s %d-W%02d  %s  %s\n", d.Item.Time.Format("2006-01-02 15:04 Mon -0700"), y, w, d.Item.ID, verdict)
	}
	fmt.Fprintf(&b, "# %d kept, %d forgotten\n", kept, len(ds)-kept)
	return b.String()
}

func TestGolden(t *testing.T) {
	items := simulated(t)
	if len(items) != 364+48 {
		t.Fatalf("simulated %d items", len(items))
	}
	for _, g := range goldenPolicies {
		t.Run(g.file, func(t *testing.T) {
			got := renderDecisions(g.p, g.p.Apply(items))
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestGoldenHourlyByHand states the first reference file's survivors as
// derived from restic's documentation, independently of the code: last 3
// are the three newest hourly items; hourly 24 keeps all 24 items of
// 2024-02-29; daily 7 keeps the newest item of each of the 7 most recent
// days (Feb 29 23:15, Feb 28 23:15, then the 23:30 items of Feb 27 to 23).
func TestGoldenHourlyByHand(t *testing.T) {
	loc := paris(t)
	want := map[string]string{}
	for h := range 24 {
		tm := time.Date(2024, 2, 29, h, 15, 0, 0, loc)
		want[tm.Format(time.DateTime)] = "hourly"
	}
	for h := 21; h < 24; h++ {
		want[time.Date(2024, 2, 29, h, 15, 0, 0, loc).Format(time.DateTime)] = "last,hourly"
	}
	want["2024-02-29 23:15:00"] = "last,hourly,daily"
	want["2024-02-28 23:15:00"] = "daily"
	for d := 23; d <= 27; d++ {
		want[time.Date(2024, 2, d, 23, 30, 0, 0, loc).Format(time.DateTime)] = "daily"
	}
	got := map[string]string{}
	for _, d := range goldenPolicies[0].p.Apply(simulated(t)) {
		if d.Keep {
			got[d.Item.Time.Format(time.DateTime)] = strings.Join(d.Reasons, ",")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("survivors of %s (-want +got):\n%s", goldenPolicies[0].p, diff)
	}
}
