package spec

import (
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// Kind names a kind of resource: the key that starts a resource in a role.
type Kind string

// The resource kinds. docs/spec.md describes each one's fields.
const (
	KindFile             Kind = "file"
	KindDirectory        Kind = "directory"
	KindSymlink          Kind = "symlink"
	KindAbsent           Kind = "absent"
	KindPackage          Kind = "package"
	KindService          Kind = "service"
	KindUser             Kind = "user"
	KindGroup            Kind = "group"
	KindAuthorizedKeys   Kind = "authorized_keys"
	KindSwap             Kind = "swap"
	KindSysctl           Kind = "sysctl"
	KindTimer            Kind = "timer"
	KindCron             Kind = "cron"
	KindCommand          Kind = "command"
	KindGit              Kind = "git"
	KindEnvdir           Kind = "envdir"
	KindPostgresSettings Kind = "postgres_settings"
	KindPostgresHBA      Kind = "postgres_hba"
	KindPostgresBackup   Kind = "postgres_backup"
	KindFileBackup       Kind = "file_backup"
	KindReplica          Kind = "replica"
	KindPostgresRole     Kind = "postgres_role"
	KindPostgresDatabase Kind = "postgres_database"
)

// kinds builds a new, empty spec of each kind. It is the one list of kinds.
func kinds() map[Kind]func() Spec {
	return map[Kind]func() Spec{
		KindFile:             func() Spec { return new(File) },
		KindDirectory:        func() Spec { return new(Directory) },
		KindSymlink:          func() Spec { return new(Symlink) },
		KindAbsent:           func() Spec { return new(Absent) },
		KindPackage:          func() Spec { return new(Package) },
		KindService:          func() Spec { return new(Service) },
		KindUser:             func() Spec { return new(User) },
		KindGroup:            func() Spec { return new(Group) },
		KindAuthorizedKeys:   func() Spec { return new(AuthorizedKeys) },
		KindSwap:             func() Spec { return new(Swap) },
		KindSysctl:           func() Spec { return new(Sysctl) },
		KindTimer:            func() Spec { return new(Timer) },
		KindCron:             func() Spec { return new(Cron) },
		KindCommand:          func() Spec { return new(Command) },
		KindGit:              func() Spec { return new(Git) },
		KindEnvdir:           func() Spec { return new(Envdir) },
		KindPostgresSettings: func() Spec { return new(PostgresSettings) },
		KindPostgresHBA:      func() Spec { return new(PostgresHBA) },
		KindPostgresRole:     func() Spec { return new(PostgresRole) },
		KindPostgresDatabase: func() Spec { return new(PostgresDatabase) },
		KindPostgresBackup:   func() Spec { return new(PostgresBackup) },
		KindFileBackup:       func() Spec { return new(FileBackup) },
		KindReplica:          func() Spec { return new(Replica) },
	}
}

// Kinds returns every resource kind, sorted.
func Kinds() []Kind {
	var out []Kind
	for k := range kinds() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Spec is the kind-specific part of a resource: one of the pointer types
// below (*File, *Directory...). Every string field is a template rendered
// per host; after Compile they hold the rendered text.
type Spec interface {
	// Kind returns the kind this spec is for.
	Kind() Kind
	// check validates the fields (and the resource's name); at load time,
	// fields still holding templates are skipped.
	check(c *checker)
	// defaults fills the fields left out with their documented defaults.
	defaults()
}

// File is a regular file with exactly one of Content (inline text),
// Template (a file under the role's templates/, rendered) or Source (a file
// under the role's files/, copied as is). After Compile, Content holds the
// file's full contents whichever was used. Name: absolute path.
type File struct {
	Content  string `yaml:"content"`
	Template string `yaml:"template"`
	Source   string `yaml:"source"`
	Mode     string `yaml:"mode"`  // octal, default "0644"
	Owner    string `yaml:"owner"` // default root
	Group    string `yaml:"group"` // default root
}

// Directory is a directory. Name: absolute path.
type Directory struct {
	Mode  string `yaml:"mode"` // default "0755"
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
}

// Symlink is a symbolic link to Target. Name: absolute path of the link.
type Symlink struct {
	Target string `yaml:"target"`
}

// Absent is a path that must not exist (file, link or directory tree).
// Name: absolute path.
type Absent struct{}

// Package is a Debian package. Name: the package name.
type Package struct {
	State string `yaml:"state"` // present (default), absent or latest
	// PurgeOnRemoval: when the package leaves the spec, tend removes it
	// (by default a package that leaves the spec stays installed).
	PurgeOnRemoval bool `yaml:"purge_on_removal"`
}

// Service is a systemd service. Name: the unit name without ".service".
// Enabled and Running are left alone when nil. Unit (inline) or
// UnitTemplate (under templates/) gives the unit file's content; after
// Compile, Unit holds it whichever was used.
type Service struct {
	Enabled      *bool  `yaml:"enabled"`
	Running      *bool  `yaml:"running"`
	Unit         string `yaml:"unit"`
	UnitTemplate string `yaml:"unit_template"`
}

// User is a system account. Name: the login.
type User struct {
	UID    *int     `yaml:"uid"`
	Group  string   `yaml:"group"`  // primary group; default: a group named like the user
	Groups []string `yaml:"groups"` // supplementary groups, exactly these
	Home   string   `yaml:"home"`   // default /home/NAME
	Shell  string   `yaml:"shell"`  // default /bin/bash
	System bool     `yaml:"system"`
}

// Group is a system group. Name: the group name.
type Group struct {
	GID    *int `yaml:"gid"`
	System bool `yaml:"system"`
}

// AuthorizedKeys are SSH public keys allowed to log in as a user. Name: the
// user. With Exclusive, keys not listed are removed.
type AuthorizedKeys struct {
	Keys      []string `yaml:"keys"`
	Exclusive bool     `yaml:"exclusive"`
}

// Swap is a swap file. Name: its absolute path.
type Swap struct {
	Size       string `yaml:"size"`       // e.g. "512M", "1G"
	Swappiness *int   `yaml:"swappiness"` // 0-100, vm.swappiness; left alone when nil
}

// Sysctl is a kernel parameter, set now and persisted under /etc/sysctl.d.
// Name: the parameter, e.g. net.ipv4.ip_forward.
type Sysctl struct {
	Value string `yaml:"value"`
}

// Timer is a scheduled job run by a systemd service and timer pair.
// Name: the unit name without suffix.
type Timer struct {
	OnCalendar string `yaml:"on_calendar"` // systemd calendar expression
	Command    string `yaml:"command"`
	User       string `yaml:"user"` // default root
}

// Cron is a scheduled job written as a file in /etc/cron.d. Name: the file
// name (letters, digits, '-' and '_' only, as cron requires).
type Cron struct {
	Schedule string `yaml:"schedule"` // five fields or @daily etc.
	Command  string `yaml:"command"`
	User     string `yaml:"user"` // default root
}

// Command runs a shell command, guarded: it is not run when the path Creates
// exists or when Unless succeeds. Name: a label.
type Command struct {
	Run     string `yaml:"run"`
	Creates string `yaml:"creates"`
	Unless  string `yaml:"unless"`
	User    string `yaml:"user"` // default root
}

// Git deploys a revision of a repository into releases under the
// directory Name (NAME/releases/REVISION), points the symlink NAME/CURRENT
// at it and keeps the Keep newest releases.
type Git struct {
	Repo     string `yaml:"repo"`
	Revision string `yaml:"revision"`
	Keep     int    `yaml:"keep"`    // default 5
	Current  string `yaml:"current"` // symlink name, default "current"
	User     string `yaml:"user"`    // owner of the checkout, default root
}

// Envdir is a directory holding one file per variable (daemontools
// envdir). With Secret, files get mode 0600, otherwise 0644. Name: path.
type Envdir struct {
	Vars   map[string]string `yaml:"vars"`
	Secret bool              `yaml:"secret"`
	Owner  string            `yaml:"owner"`
	Group  string            `yaml:"group"`
}

// PostgresSettings are server settings (postgresql.conf parameters) in a
// file included by the server's configuration. Name: a label.
type PostgresSettings struct {
	Settings map[string]string `yaml:"settings"`
	Restart  string            `yaml:"restart"`
}

// PostgresHBA is one pg_hba.conf entry. Name: a label.
type PostgresHBA struct {
	Type     string `yaml:"type"` // local, host, hostssl or hostnossl; default host
	Database string `yaml:"database"`
	User     string `yaml:"user"`
	Address  string `yaml:"address"` // required except for local
	Method   string `yaml:"method"`
}

// PostgresRole is a database role. Name: the role name. Password usually
// comes from a secret variable: password: "{{.db_password}}".
type PostgresRole struct {
	Login      bool   `yaml:"login"`
	Password   string `yaml:"password"`
	Superuser  bool   `yaml:"superuser"`
	CreateDB   bool   `yaml:"createdb"`
	CreateRole bool   `yaml:"createrole"`
}

// PostgresBackup archives a PostgreSQL cluster's WAL continuously to an
// object store and takes base backups on a schedule, for point-in-time
// recovery. Name: the Debian cluster name, e.g. main.
type PostgresBackup struct {
	Version        string            `yaml:"version"`         // PostgreSQL major version; default 15
	Store          string            `yaml:"store"`           // file:///path or s3://bucket/prefix?endpoint=...
	Env            map[string]string `yaml:"env"`             // store credentials, usually from secrets
	Recipients     []string          `yaml:"recipients"`      // age1... public keys the backups are sealed to
	Schedule       string            `yaml:"schedule"`        // base backups, systemd calendar; default daily
	KeepCount      int               `yaml:"keep_count"`      // default 7
	KeepWithin     string            `yaml:"keep_within"`     // default 14d
	ArchiveTimeout string            `yaml:"archive_timeout"` // default 60s: at most a minute lost
	Parallel       int               `yaml:"parallel"`        // WAL files pushed or fetched at once; default 4
}

// FileBackup takes deduplicated, encrypted snapshots of paths on a
// schedule (see docs/snapshot.md). Name: a label.
type FileBackup struct {
	Paths      []string          `yaml:"paths"`      // absolute paths
	Exclude    []string          `yaml:"exclude"`    // patterns: base names or full paths
	Store      string            `yaml:"store"`      // the repository's store URL
	Env        map[string]string `yaml:"env"`        // store credentials, usually from secrets
	Recipients []string          `yaml:"recipients"` // age1... keys that can read snapshots
	Key        string            `yaml:"key"`        // the repository's write key (64 hex digits), from a secret
	Schedule   string            `yaml:"schedule"`   // systemd calendar; default hourly
	MaxAge     string            `yaml:"max_age"`    // late after this since the last success; default 2h
}

// Replica pulls a copy of an object store (snapshot repositories,
// PostgreSQL archives) onto a storage host on a schedule. Name: a label.
type Replica struct {
	From        string            `yaml:"from"`         // the source store URL
	FromDir     string            `yaml:"from_dir"`     // or a data directory: USER@HOST:DIR, pulled with rsync over SSH
	SSHKey      string            `yaml:"ssh_key"`      // from_dir: the storage host's private key (a secret)
	HostKey     string            `yaml:"host_key"`     // from_dir: the source host's public host key ("ssh-ed25519 AAAA...")
	Port        int               `yaml:"port"`         // from_dir: SSH port; default 22
	KeepHourly  int               `yaml:"keep_hourly"`  // from_dir: dated copies kept; defaults 48 hourly,
	KeepDaily   int               `yaml:"keep_daily"`   // 14 daily,
	KeepWeekly  int               `yaml:"keep_weekly"`  // 8 weekly,
	KeepMonthly int               `yaml:"keep_monthly"` // 12 monthly
	To          string            `yaml:"to"`           // the replica: a store URL, or for from_dir an absolute directory
	Env         map[string]string `yaml:"env"`          // TEND_FROM_AWS_... (read-only key), TEND_TO_AWS_...
	Schedule    string            `yaml:"schedule"`     // default every 15 minutes
	MaxAge      string            `yaml:"max_age"`      // late after this; default 1h
	KeepDeleted string            `yaml:"keep_deleted"` // objects deleted at the source are kept this long; default 30d
}

// PostgresDatabase is a database. Name: the database name.
type PostgresDatabase struct {
	Owner    string `yaml:"owner"`
	Encoding string `yaml:"encoding"` // default UTF8
}

func (*File) Kind() Kind             { return KindFile }
func (*Directory) Kind() Kind        { return KindDirectory }
func (*Symlink) Kind() Kind          { return KindSymlink }
func (*Absent) Kind() Kind           { return KindAbsent }
func (*Package) Kind() Kind          { return KindPackage }
func (*Service) Kind() Kind          { return KindService }
func (*User) Kind() Kind             { return KindUser }
func (*Group) Kind() Kind            { return KindGroup }
func (*AuthorizedKeys) Kind() Kind   { return KindAuthorizedKeys }
func (*Swap) Kind() Kind             { return KindSwap }
func (*Sysctl) Kind() Kind           { return KindSysctl }
func (*Timer) Kind() Kind            { return KindTimer }
func (*Cron) Kind() Kind             { return KindCron }
func (*Command) Kind() Kind          { return KindCommand }
func (*Git) Kind() Kind              { return KindGit }
func (*Envdir) Kind() Kind           { return KindEnvdir }
func (*PostgresSettings) Kind() Kind { return KindPostgresSettings }
func (*PostgresHBA) Kind() Kind      { return KindPostgresHBA }
func (*PostgresRole) Kind() Kind     { return KindPostgresRole }
func (*PostgresDatabase) Kind() Kind { return KindPostgresDatabase }
func (*PostgresBackup) Kind() Kind   { return KindPostgresBackup }
func (*FileBackup) Kind() Kind       { return KindFileBackup }
func (*Replica) Kind() Kind          { return KindReplica }

func or(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func (s *File) defaults()             { or(&s.Mode, "0644"); or(&s.Owner, "root"); or(&s.Group, "root") }
func (s *Directory) defaults()        { or(&s.Mode, "0755"); or(&s.Owner, "root"); or(&s.Group, "root") }
func (s *Symlink) defaults()          {}
func (s *Absent) defaults()           {}
func (s *Package) defaults()          { or(&s.State, "present") }
func (s *Service) defaults()          {}
func (s *User) defaults()             { or(&s.Shell, "/bin/bash") }
func (s *Group) defaults()            {}
func (s *AuthorizedKeys) defaults()   {}
func (s *Swap) defaults()             {}
func (s *Sysctl) defaults()           {}
func (s *Timer) defaults()            { or(&s.User, "root") }
func (s *Cron) defaults()             { or(&s.User, "root") }
func (s *Command) defaults()          { or(&s.User, "root") }
func (s *Envdir) defaults()           { or(&s.Owner, "root"); or(&s.Group, "root") }
func (s *PostgresSettings) defaults() {}
func (s *PostgresHBA) defaults()      { or(&s.Type, "host") }
func (s *PostgresRole) defaults()     {}
func (s *PostgresDatabase) defaults() { or(&s.Encoding, "UTF8") }
func (s *FileBackup) defaults() {
	or(&s.Schedule, "hourly")
	or(&s.MaxAge, "2h")
}
func (s *Replica) defaults() {
	if s.Port == 0 {
		s.Port = 22
	}
	if s.KeepHourly == 0 && s.KeepDaily == 0 && s.KeepWeekly == 0 && s.KeepMonthly == 0 {
		s.KeepHourly, s.KeepDaily, s.KeepWeekly, s.KeepMonthly = 48, 14, 8, 12
	}
	or(&s.Schedule, "*:0/15")
	or(&s.MaxAge, "1h")
	or(&s.KeepDeleted, "30d")
}
func (s *PostgresBackup) defaults() {
	or(&s.Version, "15")
	or(&s.Schedule, "daily")
	or(&s.KeepWithin, "14d")
	or(&s.ArchiveTimeout, "60s")
	if s.KeepCount == 0 {
		s.KeepCount = 7
	}
	if s.Parallel == 0 {
		s.Parallel = 4
	}
}
func (s *Git) defaults() {
	or(&s.Current, "current")
	or(&s.User, "root")
	if s.Keep == 0 {
		s.Keep = 5
	}
}

// checker validates one resource, placing errors at the offending field.
type checker struct {
	r    *Resource
	errs *ErrorList
	load bool // at load time, fields still holding templates are not checked
}

// absent reports whether the resource says state: absent: then it needs
// only its name.
func (c *checker) absent() bool { return c.r.State == StateAbsent }

// lit reports whether v can be checked now: always after rendering, and at
// load time only when it holds no template action.
func (c *checker) lit(v string) bool { return !c.load || !strings.Contains(v, "{{") }

func (c *checker) has(field string) bool { _, ok := c.r.nodes[field]; return ok }

func (c *checker) errf(field, format string, a ...any) {
	c.errs.add(c.r.fieldPos(field), "%s %s: "+format, append([]any{c.r.Kind, c.r.Name}, a...)...)
}

// name checks the resource's name with re, described by what.
func (c *checker) name(re *regexp.Regexp, what string) {
	if c.r.Name != "" && c.lit(c.r.Name) && !re.MatchString(c.r.Name) {
		c.errf("", "invalid name: expected %s", what)
	}
}

func (c *checker) absPath(field, v string) {
	if !c.lit(v) || v == "" {
		return
	}
	if !path.IsAbs(v) || path.Clean(v) != v || v == "/" {
		what := field
		if what == "" {
			what = "name"
		}
		c.errf(field, "%s %q must be an absolute path, without . or .. parts, other than /", what, v)
	}
}

func (c *checker) required(field, v string) bool {
	if c.has(field) && v != "" {
		return true
	}
	if c.absent() {
		return false
	}
	c.errf("", "%s is required", field)
	return false
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	if c.lit(v) && v != "" && !slices.Contains(allowed, v) {
		c.errf(field, "%s %q is not one of %s", field, v, strings.Join(allowed, ", "))
	}
}

var modeRE = regexp.MustCompile(`^0?[0-7]{3}$|^[0-7]{4}$`)

func (c *checker) mode(v string) {
	if c.lit(v) && v != "" && !modeRE.MatchString(v) {
		c.errf("mode", "mode %q is not an octal mode such as \"0644\" (quote it in YAML)", v)
	}
}

func (c *checker) account(field, v string) {
	if c.lit(v) && v != "" && !accountRE.MatchString(v) {
		c.errf(field, "%s %q is not a valid user or group name", field, v)
	}
}

var (
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	unitRE    = regexp.MustCompile(`^[A-Za-z0-9_.@:-]+$`)
	cronRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	sysctlRE  = regexp.MustCompile(`^[a-z0-9_]+([./][a-z0-9_*-]+)+$`)
	sizeRE    = regexp.MustCompile(`^[1-9][0-9]*[KMG]?$`)
	labelRE   = regexp.MustCompile(`^[^\s/]+$`)
	pgNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	pgParamRE = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)
)

func (s *File) check(c *checker) {
	c.absPath("", c.r.Name)
	n := 0
	for _, f := range []string{"content", "template", "source"} {
		if c.has(f) {
			n++
		}
	}
	if n != 1 && !c.absent() {
		c.errf("", "exactly one of content, template or source is required")
	}
	c.relPath("template", s.Template)
	c.relPath("source", s.Source)
	c.mode(s.Mode)
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}

// relPath checks a path relative to the role's templates/ or files/.
func (c *checker) relPath(field, v string) {
	if v == "" || !c.lit(v) {
		return
	}
	if path.IsAbs(v) || path.Clean(v) != v || strings.HasPrefix(v, "../") || v == ".." {
		c.errf(field, "%s %q must be a clean path inside the role's %s directory", field, v, roleDirOf(field))
	}
}

func roleDirOf(field string) string {
	if field == "source" {
		return "files/"
	}
	return "templates/"
}

func (s *Directory) check(c *checker) {
	c.absPath("", c.r.Name)
	c.mode(s.Mode)
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}

func (s *Symlink) check(c *checker) {
	c.absPath("", c.r.Name)
	c.required("target", s.Target)
}

func (s *Absent) check(c *checker) { c.absPath("", c.r.Name) }

func (s *Package) check(c *checker) {
	c.name(packageRE, "a Debian package name")
	c.oneOf("state", s.State, "present", "absent", "latest")
}

func (s *Service) check(c *checker) {
	c.name(unitRE, "a systemd unit name without .service")
	if c.has("unit") && c.has("unit_template") {
		c.errf("unit_template", "unit and unit_template cannot both be set")
	}
	c.relPath("unit_template", s.UnitTemplate)
}

func (s *User) check(c *checker) {
	c.name(accountRE, "a user name (lowercase letters, digits, '_' and '-')")
	c.account("group", s.Group)
	for _, g := range s.Groups {
		c.account("groups", g)
	}
	if s.Home != "" {
		c.absPath("home", s.Home)
	}
	if s.UID != nil && (*s.UID < 0 || *s.UID > 65534) {
		c.errf("uid", "uid %d is out of range 0-65534", *s.UID)
	}
}

func (s *Group) check(c *checker) {
	c.name(accountRE, "a group name (lowercase letters, digits, '_' and '-')")
	if s.GID != nil && (*s.GID < 0 || *s.GID > 65534) {
		c.errf("gid", "gid %d is out of range 0-65534", *s.GID)
	}
}

func (s *AuthorizedKeys) check(c *checker) {
	c.name(accountRE, "the user whose keys these are")
	if !c.has("keys") {
		if !c.absent() {
			c.errf("", "keys is required")
		}
	}
	for i, k := range s.Keys {
		if !c.lit(k) {
			continue
		}
		if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || len(rest) > 0 {
			c.errf(fmt.Sprintf("keys[%d]", i), "key %d is not an SSH public key line (\"[options] ssh-ed25519 AAAA... comment\")", i+1)
		}
	}
}

func (s *Swap) check(c *checker) {
	c.absPath("", c.r.Name)
	if c.required("size", s.Size) && c.lit(s.Size) && !sizeRE.MatchString(s.Size) {
		c.errf("size", "size %q is not a size such as 512M or 1G", s.Size)
	}
	if s.Swappiness != nil && (*s.Swappiness < 0 || *s.Swappiness > 100) {
		c.errf("swappiness", "swappiness %d is out of range 0-100", *s.Swappiness)
	}
}

func (s *Sysctl) check(c *checker) {
	c.name(sysctlRE, "a kernel parameter such as net.ipv4.ip_forward")
	c.required("value", s.Value)
}

func (s *Timer) check(c *checker) {
	c.name(unitRE, "a systemd unit name without suffix")
	c.required("on_calendar", s.OnCalendar)
	c.required("command", s.Command)
	c.account("user", s.User)
}

func (s *Cron) check(c *checker) {
	c.name(cronRE, "letters, digits, '-' and '_' only (cron ignores other file names in /etc/cron.d)")
	if c.required("schedule", s.Schedule) && c.lit(s.Schedule) {
		if f := strings.Fields(s.Schedule); !(len(f) == 5 || len(f) == 1 && strings.HasPrefix(f[0], "@")) {
			c.errf("schedule", "schedule %q needs five fields (minute hour day month weekday) or @hourly/@daily/...", s.Schedule)
		}
	}
	c.required("command", s.Command)
	c.account("user", s.User)
}

func (s *Command) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	c.required("run", s.Run)
	if s.Creates != "" {
		c.absPath("creates", s.Creates)
	}
	c.account("user", s.User)
}

func (s *Git) check(c *checker) {
	c.absPath("", c.r.Name)
	c.required("repo", s.Repo)
	c.required("revision", s.Revision)
	if s.Keep < 0 || s.Keep > 1000 {
		c.errf("keep", "keep %d is out of range 1-1000", s.Keep)
	} else if c.has("keep") && s.Keep == 0 {
		c.errf("keep", "keep must be at least 1 (the current release)")
	}
	if c.lit(s.Current) && s.Current != "" && strings.ContainsAny(s.Current, "/") {
		c.errf("current", "current %q must be a plain name inside the directory", s.Current)
	}
	c.account("user", s.User)
}

func (s *Envdir) check(c *checker) {
	c.absPath("", c.r.Name)
	if !c.has("vars") {
		if !c.absent() {
			c.errf("", "vars is required")
		}
	}
	for k := range s.Vars {
		if !envKeyRE.MatchString(k) {
			c.errf("vars."+k, "variable name %q must be letters, digits and '_'", k)
		}
	}
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}

var (
	pgVersionRE = regexp.MustCompile(`^[0-9]{1,2}$`)
	clusterRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	storeRE     = regexp.MustCompile(`^(file:///|s3://)`)
	recipientRE = regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`)
)

func (s *PostgresBackup) check(c *checker) {
	c.name(clusterRE, "a Debian cluster name (letters, digits, '_' and '-'), e.g. main")
	if c.lit(s.Version) && s.Version != "" && !pgVersionRE.MatchString(s.Version) {
		c.errf("version", "version %q is not a PostgreSQL major version such as 15", s.Version)
	}
	if c.required("store", s.Store) && c.lit(s.Store) && !storeRE.MatchString(s.Store) {
		c.errf("store", "store %q must be a file:///path or s3://bucket/prefix URL", s.Store)
	}
	for k := range s.Env {
		if !envKeyRE.MatchString(k) {
			c.errf("env."+k, "variable name %q must be letters, digits and '_'", k)
		}
	}
	if !c.has("recipients") || len(s.Recipients) == 0 {
		if !c.absent() {
			c.errf("", "recipients is required: the age public keys (age1...) backups are sealed to")
		}
	}
	for _, r := range s.Recipients {
		if c.lit(r) && !recipientRE.MatchString(r) {
			c.errf("recipients", "recipient %q is not an age public key (age1...)", r)
		}
	}
	if c.has("keep_count") && s.KeepCount < 1 {
		c.errf("keep_count", "keep_count must be at least 1")
	}
	if c.lit(s.KeepWithin) && s.KeepWithin != "" {
		if _, err := ParseDays(s.KeepWithin); err != nil {
			c.errf("keep_within", "keep_within: %v", err)
		}
	}
	if c.lit(s.ArchiveTimeout) && s.ArchiveTimeout != "" {
		d, err := time.ParseDuration(s.ArchiveTimeout)
		if err != nil || d < time.Second || d > time.Hour || d%time.Second != 0 {
			c.errf("archive_timeout", "archive_timeout %q must be whole seconds between 1s and 1h, e.g. 60s", s.ArchiveTimeout)
		}
	}
	if c.has("parallel") && (s.Parallel < 1 || s.Parallel > 64) {
		c.errf("parallel", "parallel must be between 1 and 64")
	}
	if c.lit(s.Schedule) && strings.ContainsAny(s.Schedule, "\n;") {
		c.errf("schedule", "schedule %q must be a systemd calendar expression such as daily", s.Schedule)
	}
}

var hexKeyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (c *checker) storeURL(field, v string) {
	if c.required(field, v) && c.lit(v) && !storeRE.MatchString(v) {
		c.errf(field, "%s %q must be a file:///path or s3://bucket/prefix URL", field, v)
	}
}

func (c *checker) envKeys(env map[string]string) {
	for k := range env {
		if !envKeyRE.MatchString(k) {
			c.errf("env."+k, "variable name %q must be letters, digits and '_'", k)
		}
	}
}

func (c *checker) goDuration(field, v string) {
	if c.lit(v) && v != "" {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			c.errf(field, "%s %q is not a duration such as 90m or 2h", field, v)
		}
	}
}

func (s *FileBackup) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	if len(s.Paths) == 0 {
		if !c.absent() {
			c.errf("", "paths is required: the absolute paths to back up")
		}
	}
	for _, p := range s.Paths {
		c.absPath("paths", p)
	}
	c.storeURL("store", s.Store)
	c.envKeys(s.Env)
	if len(s.Recipients) == 0 {
		if !c.absent() {
			c.errf("", "recipients is required: the age public keys (age1...) snapshots are sealed to")
		}
	}
	for _, r := range s.Recipients {
		if c.lit(r) && !recipientRE.MatchString(r) {
			c.errf("recipients", "recipient %q is not an age public key (age1...)", r)
		}
	}
	if c.required("key", s.Key) && c.lit(s.Key) && !hexKeyRE.MatchString(s.Key) {
		c.errf("key", "key must be the repository's write key, 64 lowercase hex digits (from a secret: key: \"{{.backup_key}}\")")
	}
	c.goDuration("max_age", s.MaxAge)
}

var remoteDirRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:\[\]-]+:/`)

func (s *Replica) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	switch {
	case c.has("from") && c.has("from_dir"):
		c.errf("", "give either from (a store) or from_dir (a data directory), not both")
	case c.has("from_dir"):
		if c.lit(s.FromDir) && !remoteDirRE.MatchString(s.FromDir) {
			c.errf("from_dir", "from_dir %q must be USER@HOST:/absolute/dir", s.FromDir)
		}
		c.absPath("to", s.To)
		c.required("ssh_key", s.SSHKey)
		c.required("host_key", s.HostKey)
		if c.has("port") && (s.Port < 1 || s.Port > 65535) {
			c.errf("port", "port must be between 1 and 65535")
		}
	default:
		c.storeURL("from", s.From)
		c.storeURL("to", s.To)
	}
	c.envKeys(s.Env)
	c.goDuration("max_age", s.MaxAge)
	if c.lit(s.KeepDeleted) && s.KeepDeleted != "" {
		if _, err := ParseDays(s.KeepDeleted); err != nil {
			c.errf("keep_deleted", "keep_deleted: %v", err)
		}
	}
}

// ParseDays reads a duration that may use days and weeks: "14d", "2w",
// "36h", "1w2d".
func ParseDays(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("invalid duration %q: use a number and a unit (w, d, h, m), e.g. 14d", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[rest[i]]
		if unit == 0 {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use w, d, h or m)", s, rest[i])
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return total, nil
}

func (s *PostgresSettings) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	if len(s.Settings) == 0 {
		if !c.absent() {
			c.errf("", "settings is required")
		}
	}
	for k := range s.Settings {
		if !pgParamRE.MatchString(k) {
			c.errf("settings."+k, "setting name %q is not a PostgreSQL parameter name", k)
		}
	}
}

func (s *PostgresHBA) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	c.oneOf("type", s.Type, "local", "host", "hostssl", "hostnossl")
	c.required("database", s.Database)
	c.required("user", s.User)
	if c.required("method", s.Method) {
		c.oneOf("method", s.Method, "trust", "reject", "scram-sha-256", "md5", "password", "peer", "ident", "cert")
	}
	if s.Type == "local" && s.Address != "" {
		c.errf("address", "a local entry has no address")
	}
	if s.Type != "local" && c.lit(s.Type) {
		c.required("address", s.Address)
	}
}

func (s *PostgresRole) check(c *checker) { c.name(pgNameRE, "a lowercase PostgreSQL identifier") }

func (s *PostgresDatabase) check(c *checker) {
	c.name(pgNameRE, "a lowercase PostgreSQL identifier")
	if s.Owner != "" && c.lit(s.Owner) && !pgNameRE.MatchString(s.Owner) {
		c.errf("owner", "owner %q is not a lowercase PostgreSQL identifier", s.Owner)
	}
}

// StateAbsent is the state of a resource to remove.
const StateAbsent = "absent"

// dataKinds are the kinds whose removal may delete data, and so take
// delete_data.
var dataKinds = []Kind{KindDirectory, KindGit, KindPostgresDatabase}

// commonFields are the keys every resource of kind k takes besides its
// own fields.
func commonFields(k Kind) []string {
	out := []string{"notify", "requires"}
	if k != KindPackage {
		out = append(out, "state")
	}
	if slices.Contains(dataKinds, k) {
		out = append(out, "delete_data")
	}
	return out
}

// specFields lists the YAML names of a spec's fields, in declaration order.
func specFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		out = append(out, t.Field(i).Tag.Get("yaml"))
	}
	return out
}

// decodeField decodes one key of a resource into the spec's field named by
// YAML tag, recording the nodes of what it decodes (field, field[i],
// field.key) for positions. It reports unknown keys.
func (f *source) decodeField(r *Resource, fd field) {
	v := reflect.ValueOf(r.Spec).Elem()
	t := v.Type()
	idx := -1
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") == fd.key {
			idx = i
		}
	}
	what := fmt.Sprintf("%s %s", r.Kind, r.Name)
	if idx < 0 {
		if kinds()[Kind(fd.key)] != nil {
			f.errf(fd.k, "%s: unknown field %q: a %s is a resource kind; start a new list item (\"- %s: ...\") for each resource", what, fd.key, fd.key, fd.key)
			return
		}
		f.unknown(fd, what, append(specFields(t), commonFields(r.Kind)...))
		return
	}
	what += ": " + fd.key
	fv := v.Field(idx)
	r.nodes[fd.key] = fd.v
	switch p := fv.Addr().Interface().(type) {
	case *string:
		*p, _ = f.str(fd.v, what)
	case *bool:
		*p, _ = f.boolean(fd.v, what)
	case **bool:
		if b, ok := f.boolean(fd.v, what); ok {
			*p = &b
		}
	case *int:
		*p, _ = f.integer(fd.v, what)
	case **int:
		if i, ok := f.integer(fd.v, what); ok {
			*p = &i
		}
	case *[]string:
		list, nodes := f.strList(fd.v, what)
		*p = list
		for i, n := range nodes {
			r.nodes[fmt.Sprintf("%s[%d]", fd.key, i)] = n
		}
	case *map[string]string:
		m := map[string]string{}
		for _, e := range f.fields(fd.v, what) {
			if s, ok := f.str(e.v, what+"."+e.key); ok {
				m[e.key] = s
				r.nodes[fd.key+"."+e.key] = e.v
			}
		}
		*p = m
	default:
		panic("spec: unsupported field type " + fv.Type().String())
	}
}

// strings calls fn with a pointer to each string of the spec (fields, list
// elements, map values) and the key of its node, so that rendering can
// replace them in place.
func eachString(s Spec, fn func(key string, p *string)) {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			fn(tag, p)
		case *[]string:
			for j := range *p {
				fn(fmt.Sprintf("%s[%d]", tag, j), &(*p)[j])
			}
		case *map[string]string:
			keys := make([]string, 0, len(*p))
			for k := range *p {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				val := (*p)[k]
				fn(tag+"."+k, &val)
				(*p)[k] = val
			}
		}
	}
}

// cloneSpec returns a deep copy of s.
func cloneSpec(s Spec) Spec {
	v := reflect.ValueOf(s).Elem()
	out := reflect.New(v.Type())
	out.Elem().Set(v)
	for i := range v.NumField() {
		f := out.Elem().Field(i)
		switch p := f.Addr().Interface().(type) {
		case *[]string:
			*p = slices.Clone(*p)
		case *map[string]string:
			m := make(map[string]string, len(*p))
			for k, v := range *p {
				m[k] = v
			}
			if *p != nil {
				*p = m
			}
		case **bool:
			if *p != nil {
				b := **p
				*p = &b
			}
		case **int:
			if *p != nil {
				n := **p
				*p = &n
			}
		}
	}
	return out.Interface().(Spec)
}

// Resource is one resource of a role: in a Role as declared (templates
// unrendered), in a compiled Host rendered for that host.
type Resource struct {
	ID        string   // "kind:name"
	Kind      Kind     // what the resource is
	Name      string   // the value of the kind key: a path, package name...
	Role      string   // the role declaring it
	Pos       Pos      // where it is declared (its kind key)
	Requires  []string // ids of resources that must be converged first
	Notify    []string // handlers to run when this resource changes
	Sensitive bool     // a secret value appears in a field (Compile only)
	// State is "" (present) or "absent": remove it from the host, even if
	// tend did not create it. A package says it in its own state field.
	State string
	// DeleteData: the resource's data (a directory's contents, a git
	// checkout's local changes, a database) may go with it.
	DeleteData bool
	Spec       Spec // the kind's fields

	src   *source
	nodes map[string]*yaml.Node // "" is the name; then field, field[i], field.key, requires[i], notify[i]
}

// fieldPos returns the position of a field's value, or of the resource.
func (r *Resource) fieldPos(key string) Pos {
	if n, ok := r.nodes[key]; ok && n != nil {
		return r.src.pos(n)
	}
	return r.Pos
}
