package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"tend/internal/retention"
)

// The flag types every command shares. A command binds them with fs.Var;
// none of them is specific to one command.

// stringList is a repeatable string flag: --tag a --tag b.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// durationFlag is a duration in retention's notation: 30d, 12w, 36h, 1y2m
// (m is months, as in restic). Bind a time.Duration with fs.Var((*durationFlag)(&d), ...).
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return retention.FormatDuration(time.Duration(*d))
}

func (d *durationFlag) Set(s string) error {
	v, err := retention.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

// fractionFlag is --flag[=FRACTION]: alone it means 1 (all); else a
// fraction in (0,1] (0.1) or a percentage (10%).
type fractionFlag float64

func (f *fractionFlag) IsBoolFlag() bool { return true }

func (f *fractionFlag) String() string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*f), 'g', -1, 64)
}

func (f *fractionFlag) Set(s string) error {
	switch s {
	case "true":
		*f = 1
		return nil
	case "false":
		*f = 0
		return nil
	}
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSuffix(s, "%"), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v/scale <= 0 || v/scale > 1 {
		return fmt.Errorf("want a fraction in (0,1] or a percentage, got %q", s)
	}
	*f = fractionFlag(v / scale)
	return nil
}

// argOr returns the i-th positional argument, or def when there are fewer.
func argOr(args []string, i int, def string) string {
	if i < len(args) {
		return args[i]
	}
	return def
}
