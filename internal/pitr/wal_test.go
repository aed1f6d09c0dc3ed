package pitr

import (
	"strings"
	"testing"
	"time"

	"tend/internal/hint"
)

func TestParseSegment(t *testing.T) {
	tests := []struct {
		name    string
		segSize int64
		want    Segment
		ok      bool
	}{
		{"000000010000000000000003", segSize, Segment{TLI: 1, No: 3}, true},
		{"0000000100000000000000FF", segSize, Segment{TLI: 1, No: 255}, true},
		{"000000010000000100000000", segSize, Segment{TLI: 1, No: 256}, true},
		{"0000000A0000001600000042", segSize, Segment{TLI: 10, No: 0x16*256 + 0x42}, true},
		{"FFFFFFFF00000000000000FF", segSize, Segment{TLI: 0xFFFFFFFF, No: 255}, true},
		// 1 GiB segments: four per xlogid.
		{"000000010000000000000003", 1 << 30, Segment{TLI: 1, No: 3}, true},
		{"000000010000000200000001", 1 << 30, Segment{TLI: 1, No: 9}, true},
		// 0 means the default size.
		{"000000010000000100000001", 0, Segment{TLI: 1, No: 257}, true},
		// Low part past the last segment of an xlogid.
		{"000000010000000000000100", segSize, Segment{}, false},
		{"000000010000000000000004", 1 << 30, Segment{}, false},
		{"00000001000000000000000a", segSize, Segment{}, false}, // lowercase
		{"00000001000000000000000", segSize, Segment{}, false},  // 23 digits
		{"0000000100000000000000003", segSize, Segment{}, false},
		{"000000010000000000000003.partial", segSize, Segment{}, false},
		{"00000002.history", segSize, Segment{}, false},
		{"000000010000000000000003.00000028.backup", segSize, Segment{}, false},
		{"00000001000000000000000G", segSize, Segment{}, false},
		{"", segSize, Segment{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseSegment(tt.name, tt.segSize)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("ParseSegment(%q, %d) = %+v, %v; want %+v, %v", tt.name, tt.segSize, got, ok, tt.want, tt.ok)
			}
			if ok {
				if back := got.Name(tt.segSize); back != tt.name {
					t.Errorf("Name() = %q, want %q", back, tt.name)
				}
			}
		})
	}
}

func TestSegmentNext(t *testing.T) {
	tests := []struct {
		name, next string
		segSize    int64
	}{
		{"000000010000000000000003", "000000010000000000000004", segSize},
		{"0000000100000000000000FE", "0000000100000000000000FF", segSize},
		{"0000000100000000000000FF", "000000010000000100000000", segSize},
		{"00000002000000FF000000FF", "000000020000010000000000", segSize},
		{"000000010000000000000003", "000000010000000100000000", 1 << 30},
		{"000000010000000000000000", "000000010000000000000001", 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := ParseSegment(tt.name, tt.segSize)
			if !ok {
				t.Fatalf("ParseSegment(%q) failed", tt.name)
			}
			if got := s.Next().Name(tt.segSize); got != tt.next {
				t.Errorf("next of %s = %s, want %s", tt.name, got, tt.next)
			}
		})
	}
}

func TestLSN(t *testing.T) {
	tests := []struct {
		text string
		lsn  LSN
		seg  string // segment holding it on timeline 1 (16 MiB)
	}{
		{"0/0", 0, "000000010000000000000000"},
		{"0/3000028", 0x3000028, "000000010000000000000003"},
		{"0/FFFFFFFF", 0xFFFFFFFF, "0000000100000000000000FF"},
		{"1/0", 1 << 32, "000000010000000100000000"},
		{"16/B374D848", 0x16B374D848, "0000000100000016000000B3"},
		{"FFFFFFFF/FFFFFFFF", 0xFFFFFFFFFFFFFFFF, "00000001FFFFFFFF000000FF"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := ParseLSN(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.lsn {
				t.Fatalf("ParseLSN(%q) = %#x, want %#x", tt.text, uint64(got), uint64(tt.lsn))
			}
			if s := got.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
			var u LSN
			if err := u.UnmarshalText([]byte(tt.text)); err != nil || u != tt.lsn {
				t.Errorf("UnmarshalText(%q) = %v, %v", tt.text, u, err)
			}
			if m, _ := tt.lsn.MarshalText(); string(m) != tt.text {
				t.Errorf("MarshalText() = %q, want %q", m, tt.text)
			}
			if s := SegmentOf(1, got, segSize).Name(segSize); s != tt.seg {
				t.Errorf("SegmentOf(%s) = %s, want %s", tt.text, s, tt.seg)
			}
		})
	}
	for _, bad := range []string{"", "0", "/", "x/1", "0/x", "1/2/3", "0/3000028 ", "100000000/0", "-1/0"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			if got, err := ParseLSN(bad); err == nil {
				t.Errorf("ParseLSN(%q) = %s, want an error", bad, got)
			} else if !strings.Contains(err.Error(), "invalid LSN") {
				t.Errorf("error %q does not say the LSN is invalid", err)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	valid := []string{
		"000000010000000000000003",
		"0000000100000000000000FF",
		"000000010000000000000003.partial",
		"00000002.history",
		"000000010000000000000003.00000028.backup",
	}
	for _, n := range valid {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	invalid := []string{
		"",
		"../x",
		"..",
		"x",
		"/000000010000000000000003",
		"wal/000000010000000000000003",
		"000000010000000000000003/x",
		"../000000010000000000000003",
		"00000001000000000000000a",
		"00000001000000000000003",
		"000000010000000000000003\n",
		"000000010000000000000003.partial.x",
		"000000010000000000000003.ready",
		"000000010000000000000003.0000028.backup",
		"0000002.history",
		"00000002.history/../../x",
		"RECOVERYXLOG",
		"archive_status",
	}
	for _, n := range invalid {
		err := ValidName(n)
		if err == nil {
			t.Errorf("ValidName(%q) = nil, want an error", n)
			continue
		}
		if !strings.Contains(err.Error(), "is not the name of a WAL") {
			t.Errorf("ValidName(%q) = %q: does not say why", n, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		in   string
		want Target
	}{
		{"latest", Target{Latest: true}},
		{"2026-11-22T14:05:00Z", Target{Time: time.Date(2026, 11, 22, 14, 5, 0, 0, time.UTC)}},
		{"2026-11-22T14:05:00+02:00", Target{Time: time.Date(2026, 11, 22, 12, 5, 0, 0, time.UTC)}},
		{"2026-11-22T14:05:00.25Z", Target{Time: time.Date(2026, 11, 22, 14, 5, 0, 250e6, time.UTC)}},
		{"2026-11-22 14:05", Target{Time: time.Date(2026, 11, 22, 13, 5, 0, 0, time.UTC)}},
		{"2026-11-22 14:05:30", Target{Time: time.Date(2026, 11, 22, 13, 5, 30, 0, time.UTC)}},
		{"2026-11-22T14:05", Target{Time: time.Date(2026, 11, 22, 13, 5, 0, 0, time.UTC)}},
		{"2026-11-22T14:05:30", Target{Time: time.Date(2026, 11, 22, 13, 5, 30, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, paris)
			if err != nil {
				t.Fatal(err)
			}
			if got.Latest != tt.want.Latest || !got.Time.Equal(tt.want.Time) {
				t.Fatalf("ParseTarget(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got.String() != tt.want.String() {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "now", "Latest", "yesterday", "2026-13-01 10:00", "2026-11-22", "14:05", "2026-11-22 25:00"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			_, err := ParseTarget(bad, paris)
			if err == nil {
				t.Fatalf("ParseTarget(%q) succeeded, want an error", bad)
			}
			if !strings.Contains(err.Error(), "invalid restore target") || !strings.Contains(hint.Of(err), "latest") {
				t.Errorf("error %q (hint %q) does not say what is accepted", err, hint.Of(err))
			}
		})
	}
}
