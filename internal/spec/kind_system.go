// Resource kinds of one family: the system: packages, services, kernel
// parameters, swap, scheduled jobs and commands.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"regexp"
	"strconv"
	"strings"
)

// The kinds of this family.
const (
	KindPackage Kind = "package"
	KindService Kind = "service"
	KindSysctl  Kind = "sysctl"
	KindSwap    Kind = "swap"
	KindTimer   Kind = "timer"
	KindCron    Kind = "cron"
	KindCommand Kind = "command"
)

var (
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	unitRE    = regexp.MustCompile(`^[A-Za-z0-9_.@:\\-]+$`)
	cronRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	sysctlRE  = regexp.MustCompile(`^[a-z0-9_]+([./][A-Za-z0-9_*-]+)+$`)
	sizeRE    = regexp.MustCompile(`^[1-9][0-9]*[KMG]?$`)
)

// unit checks the resource's name as a systemd unit name to which tend
// adds the suffix: systemd refuses longer names, a leading '-', more than
// one '@', and a name already ending in the suffix would be doubled.
func (c *checker) unit(suffix string) {
	n := c.r.Name
	if _, ctl := controlChar(n); ctl || n == "" || !c.lit(n) {
		return
	}
	switch {
	case !unitRE.MatchString(n):
		c.errf("", "invalid name: expected a systemd unit name without %s (letters, digits, and : - _ . @ \\)", suffix)
	case strings.HasSuffix(n, suffix):
		c.errf("", "invalid name: give the unit name without %s (tend adds it)", suffix)
	case len(n)+len(suffix) > 255:
		c.errf("", "invalid name: a unit name is at most %d characters before %s", 255-len(suffix), suffix)
	case n[0] == '-' || n[0] == '.':
		c.errf("", "invalid name: a unit name cannot start with %q", n[0])
	case strings.Count(n, "@") > 1 || n[0] == '@':
		c.errf("", "invalid name: a unit name has at most one '@', after the template prefix (name@instance)")
	}
}

// Package is a Debian package. Name: the package name.
type Package struct {
	State string `yaml:"state" json:"state"` // present (default), absent or latest
	// PurgeOnRemoval: when the package leaves the spec, tend removes it
	// (by default a package that leaves the spec stays installed).
	PurgeOnRemoval bool `yaml:"purge_on_removal" json:"purge_on_removal"`
}

func (*Package) Kind() Kind { return KindPackage }

func (s *Package) defaults() { or(&s.State, "present") }

func (s *Package) check(c *checker) {
	c.name(packageRE, "a Debian package name")
	c.oneOf("state", s.State, "present", "absent", "latest")
}

// Service is a systemd service. Name: the unit name without ".service".
// Enabled and Running are left alone when nil. Unit (inline) or
// UnitTemplate (under templates/) gives the unit file's content; after
// Compile, Unit holds it whichever was used.
type Service struct {
	Enabled      *bool  `yaml:"enabled" json:"enabled"`
	Running      *bool  `yaml:"running" json:"running"`
	Unit         string `yaml:"unit" json:"unit"`
	UnitTemplate string `yaml:"unit_template" json:"unit_template"`
}

func (*Service) Kind() Kind { return KindService }

func (s *Service) fileRefs() []fileRef {
	return []fileRef{{field: "unit_template", path: s.UnitTemplate, dir: "templates", fills: "unit", into: &s.Unit}}
}

func (s *Service) defaults() {}

func (s *Service) check(c *checker) {
	c.unit(".service")
	if c.has("unit") && c.has("unit_template") {
		c.errf("unit_template", "unit and unit_template cannot both be set")
	}
	c.relPath("unit_template", s.UnitTemplate)
}

// Sysctl is a kernel parameter, set now and persisted under /etc/sysctl.d.
// Name: the parameter, e.g. net.ipv4.ip_forward.
type Sysctl struct {
	Value string `yaml:"value" json:"value"`
}

func (*Sysctl) Kind() Kind { return KindSysctl }

func (s *Sysctl) defaults() {}

func (s *Sysctl) check(c *checker) {
	c.name(sysctlRE, "a kernel parameter such as net.ipv4.ip_forward")
	if c.required("value", s.Value) {
		c.line("value", s.Value)
	}
}

// Swap is a swap file. Name: its absolute path.
type Swap struct {
	Size       string `yaml:"size" json:"size"`             // e.g. "512M", "1G"
	Swappiness *int   `yaml:"swappiness" json:"swappiness"` // 0-100, vm.swappiness; left alone when nil
}

func (*Swap) Kind() Kind { return KindSwap }

func (s *Swap) defaults() {}

func (s *Swap) check(c *checker) {
	c.absPath("", c.r.Name)
	if c.required("size", s.Size) && c.lit(s.Size) {
		switch n, ok := swapBytes(s.Size); {
		case !ok:
			c.errf("size", "size %q is not a size such as 512M or 1G", s.Size)
		case n < 40<<10:
			c.errf("size", "size %q is below 40K, the least mkswap accepts", s.Size)
		}
	}
	if s.Swappiness != nil && (*s.Swappiness < 0 || *s.Swappiness > 100) {
		c.errf("swappiness", "swappiness %d is out of range 0-100", *s.Swappiness)
	}
}

// swapBytes reads a swap size: a number of bytes, or of K, M or G (powers
// of 1024).
func swapBytes(s string) (int64, bool) {
	if !sizeRE.MatchString(s) {
		return 0, false
	}
	shift := map[byte]uint{'K': 10, 'M': 20, 'G': 30}[s[len(s)-1]]
	if shift > 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 1<<(62-shift) {
		return 0, false
	}
	return n << shift, true
}

// Timer is a scheduled job run by a systemd service and timer pair.
// Name: the unit name without suffix.
type Timer struct {
	OnCalendar string `yaml:"on_calendar" json:"on_calendar"` // systemd calendar expression
	Command    string `yaml:"command" json:"command"`
	User       string `yaml:"user" json:"user"` // default root
}

func (*Timer) Kind() Kind { return KindTimer }

func (s *Timer) defaults() { or(&s.User, "root") }

func (s *Timer) check(c *checker) {
	c.unit(".timer")
	if c.required("on_calendar", s.OnCalendar) {
		c.calendar("on_calendar", s.OnCalendar)
	}
	if c.required("command", s.Command) {
		c.line("command", s.Command)
	}
	if c.line("user", s.User) {
		c.account("user", s.User)
	}
}

// Cron is a scheduled job written as a file in /etc/cron.d. Name: the file
// name (letters, digits, '-' and '_' only, as cron requires).
type Cron struct {
	Schedule string `yaml:"schedule" json:"schedule"` // five fields or @daily etc.
	Command  string `yaml:"command" json:"command"`
	User     string `yaml:"user" json:"user"` // default root
}

func (*Cron) Kind() Kind { return KindCron }

func (s *Cron) defaults() { or(&s.User, "root") }

func (s *Cron) check(c *checker) {
	c.name(cronRE, "letters, digits, '-' and '_' only (cron ignores other file names in /etc/cron.d)")
	if c.required("schedule", s.Schedule) && c.line("schedule", s.Schedule) && c.lit(s.Schedule) {
		if err := parseCron(s.Schedule); err != nil {
			c.errf("schedule", "schedule %q is not a cron schedule: %v", s.Schedule, err)
		}
	}
	if c.required("command", s.Command) && c.lit(s.Command) {
		if ch, ok := lineChar(s.Command); ok {
			c.errf("command", "command holds the control character %q: cron reads each line of the file as an entry; give the command on one line of printable text", ch)
		}
	}
	if c.line("user", s.User) {
		c.account("user", s.User)
	}
}

// Command runs a shell command, guarded: it is not run when the path Creates
// exists or when Unless succeeds. Name: a label.
type Command struct {
	Run     string `yaml:"run" json:"run"`
	Creates string `yaml:"creates" json:"creates"`
	Unless  string `yaml:"unless" json:"unless"`
	User    string `yaml:"user" json:"user"` // default root
}

func (*Command) Kind() Kind { return KindCommand }

func (s *Command) defaults() { or(&s.User, "root") }

func (s *Command) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	c.required("run", s.Run)
	if s.Creates != "" {
		c.absPath("creates", s.Creates)
	}
	c.account("user", s.User)
}
