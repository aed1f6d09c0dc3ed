package pitr

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultSegmentSize is PostgreSQL's default wal_segment_size.
const DefaultSegmentSize = 16 << 20

// Segment is a WAL segment file name decoded: timeline and segment number.
type Segment struct {
	TLI uint32
	No  uint64 // segment number, counting from 0 at LSN 0
}

// ParseSegment decodes a regular segment name (24 hex digits, such as
// 000000010000000000000003) for the given segment size. Other archived
// files (history files, backup history files, .partial) are not segments.
func ParseSegment(name string, segSize int64) (Segment, bool) {
	if len(name) != 24 || !isHex(name) {
		return Segment{}, false
	}
	tli, _ := strconv.ParseUint(name[0:8], 16, 32)
	hi, _ := strconv.ParseUint(name[8:16], 16, 32)
	lo, _ := strconv.ParseUint(name[16:24], 16, 32)
	per := segsPerXLogID(segSize)
	if lo >= per {
		return Segment{}, false
	}
	return Segment{TLI: uint32(tli), No: hi*per + lo}, true
}

// Name encodes the segment's file name.
func (s Segment) Name(segSize int64) string {
	per := segsPerXLogID(segSize)
	return fmt.Sprintf("%08X%08X%08X", s.TLI, s.No/per, s.No%per)
}

// Next is the segment after s on the same timeline.
func (s Segment) Next() Segment { return Segment{TLI: s.TLI, No: s.No + 1} }

// SegmentOf is the segment holding lsn on timeline tli.
func SegmentOf(tli uint32, lsn LSN, segSize int64) Segment {
	return Segment{TLI: tli, No: uint64(lsn) / uint64(segSize)}
}

func segsPerXLogID(segSize int64) uint64 {
	if segSize <= 0 {
		segSize = DefaultSegmentSize
	}
	return 0x100000000 / uint64(segSize)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// LSN is a PostgreSQL write-ahead log location.
type LSN uint64

// ParseLSN reads the X/Y form PostgreSQL prints.
func ParseLSN(s string) (LSN, error) {
	h, l, ok := strings.Cut(s, "/")
	hi, err1 := strconv.ParseUint(h, 16, 32)
	lo, err2 := strconv.ParseUint(l, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	return LSN(hi<<32 | lo), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// MarshalText writes the X/Y form.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads the X/Y form.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	*l = v
	return err
}
