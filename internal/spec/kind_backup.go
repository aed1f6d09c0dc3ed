// Resource kinds of one family: backups: PostgreSQL archiving, file snapshots
// and store replicas.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The kinds of this family.
const (
	KindPostgresBackup Kind = "postgres_backup"
	KindFileBackup     Kind = "file_backup"
	KindReplica        Kind = "replica"
)

var (
	pgVersionRE = regexp.MustCompile(`^[0-9]{1,2}$`)
	clusterRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	storeRE     = regexp.MustCompile(`^(file:///|s3://)`)
	recipientRE = regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`)
)

// PostgresBackup archives a PostgreSQL cluster's WAL continuously to an
// object store and takes base backups on a schedule, for point-in-time
// recovery. Name: the Debian cluster name, e.g. main.
type PostgresBackup struct {
	Version        string            `yaml:"version" json:"version"`                 // PostgreSQL major version; default 15
	Store          string            `yaml:"store" json:"store"`                     // file:///path or s3://bucket/prefix?endpoint=...
	Env            map[string]string `yaml:"env" json:"env"`                         // store credentials, usually from secrets
	Recipients     []string          `yaml:"recipients" json:"recipients"`           // age1... public keys the backups are sealed to
	Schedule       string            `yaml:"schedule" json:"schedule"`               // base backups, systemd calendar; default daily
	KeepCount      int               `yaml:"keep_count" json:"keep_count"`           // default 7
	KeepWithin     string            `yaml:"keep_within" json:"keep_within"`         // default 14d
	ArchiveTimeout string            `yaml:"archive_timeout" json:"archive_timeout"` // default 60s: at most a minute lost
	Parallel       int               `yaml:"parallel" json:"parallel"`               // WAL files pushed or fetched at once; default 4
}

func (*PostgresBackup) Kind() Kind { return KindPostgresBackup }

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

func (s *PostgresBackup) check(c *checker) {
	c.name(clusterRE, "a Debian cluster name (letters, digits, '_' and '-'), e.g. main")
	if c.lit(s.Version) && s.Version != "" && !pgVersionRE.MatchString(s.Version) {
		c.errf("version", "version %q is not a PostgreSQL major version such as 15", s.Version)
	}
	if c.required("store", s.Store) && c.line("store", s.Store) && c.lit(s.Store) && !storeRE.MatchString(s.Store) {
		c.errf("store", "store %q must be a file:///path or s3://bucket/prefix URL", s.Store)
	}
	for k := range s.Env {
		if !envKeyRE.MatchString(k) {
			c.errf("env."+k, "variable name %q must be letters, digits and '_'", k)
		}
	}
	if !c.has("recipients") || len(s.Recipients) == 0 {
		if !c.lax() {
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
	c.calendar("schedule", s.Schedule)
}

// FileBackup takes deduplicated, encrypted snapshots of paths on a
// schedule (see docs/snapshot.md). Name: a label.
type FileBackup struct {
	Paths      []string          `yaml:"paths" json:"paths"`           // absolute paths
	Exclude    []string          `yaml:"exclude" json:"exclude"`       // patterns: base names or full paths
	Store      string            `yaml:"store" json:"store"`           // the repository's store URL
	Env        map[string]string `yaml:"env" json:"env"`               // store credentials, usually from secrets
	Recipients []string          `yaml:"recipients" json:"recipients"` // age1... keys that can read snapshots
	Key        string            `yaml:"key" json:"key"`               // the repository's write key (64 hex digits), from a secret
	Schedule   string            `yaml:"schedule" json:"schedule"`     // systemd calendar; default hourly
	MaxAge     string            `yaml:"max_age" json:"max_age"`       // late after this since the last success; default 2h
}

func (*FileBackup) Kind() Kind { return KindFileBackup }

func (s *FileBackup) defaults() {
	or(&s.Schedule, "hourly")
	or(&s.MaxAge, "2h")
}

func (s *FileBackup) check(c *checker) {
	c.name(labelRE, "a label without spaces or '/'")
	if len(s.Paths) == 0 {
		if !c.lax() {
			c.errf("", "paths is required: the absolute paths to back up")
		}
	}
	for _, p := range s.Paths {
		c.absPath("paths", p)
	}
	c.storeURL("store", s.Store)
	c.envKeys(s.Env)
	if len(s.Recipients) == 0 {
		if !c.lax() {
			c.errf("", "recipients is required: the age public keys (age1...) snapshots are sealed to")
		}
	}
	for _, r := range s.Recipients {
		if c.lit(r) && !recipientRE.MatchString(r) {
			c.errf("recipients", "recipient %q is not an age public key (age1...)", r)
		}
	}
	// Compiled without secrets (tend validate, tend docs), the key is the
	// secret's placeholder: its value is checked when plan supplies it.
	if c.required("key", s.Key) && c.lit(s.Key) && !isPlaceholder(s.Key) && !hexKeyRE.MatchString(s.Key) {
		c.errf("key", "key must be the repository's write key, 64 lowercase hex digits (from a secret: key: \"{{.backup_key}}\")")
	}
	c.goDuration("max_age", s.MaxAge)
	c.calendar("schedule", s.Schedule)
}

// Replica pulls a copy of an object store (snapshot repositories,
// PostgreSQL archives) onto a storage host on a schedule. Name: a label.
type Replica struct {
	From        string            `yaml:"from" json:"from"`                 // the source store URL
	FromDir     string            `yaml:"from_dir" json:"from_dir"`         // or a data directory: USER@HOST:DIR, pulled with rsync over SSH
	SSHKey      string            `yaml:"ssh_key" json:"ssh_key"`           // from_dir: the storage host's private key (a secret)
	HostKey     string            `yaml:"host_key" json:"host_key"`         // from_dir: the source host's public host key ("ssh-ed25519 AAAA...")
	Port        int               `yaml:"port" json:"port"`                 // from_dir: SSH port; default 22
	KeepHourly  int               `yaml:"keep_hourly" json:"keep_hourly"`   // from_dir: dated copies kept; defaults 48 hourly,
	KeepDaily   int               `yaml:"keep_daily" json:"keep_daily"`     // 14 daily,
	KeepWeekly  int               `yaml:"keep_weekly" json:"keep_weekly"`   // 8 weekly,
	KeepMonthly int               `yaml:"keep_monthly" json:"keep_monthly"` // 12 monthly
	To          string            `yaml:"to" json:"to"`                     // the replica: a store URL, or for from_dir an absolute directory
	Env         map[string]string `yaml:"env" json:"env"`                   // TEND_FROM_AWS_... (read-only key), TEND_TO_AWS_...
	Schedule    string            `yaml:"schedule" json:"schedule"`         // default every 15 minutes
	MaxAge      string            `yaml:"max_age" json:"max_age"`           // late after this; default 1h
	KeepDeleted string            `yaml:"keep_deleted" json:"keep_deleted"` // objects deleted at the source are kept this long; default 30d
}

func (*Replica) Kind() Kind { return KindReplica }

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
	c.calendar("schedule", s.Schedule)
	if c.lit(s.KeepDeleted) && s.KeepDeleted != "" {
		if _, err := ParseDays(s.KeepDeleted); err != nil {
			c.errf("keep_deleted", "keep_deleted: %v", err)
		}
	}
}

var hexKeyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// isPlaceholder reports whether v is exactly a secret's placeholder
// (SecretPlaceholder): the value a secret variable has when Compile is
// given no secrets.
func isPlaceholder(v string) bool {
	name, ok := strings.CutPrefix(v, "(secret ")
	return ok && strings.HasPrefix(name, "vault_") && strings.HasSuffix(name, ")") && !strings.ContainsAny(name, " (")
}

func (c *checker) storeURL(field, v string) {
	if c.required(field, v) && c.line(field, v) && c.lit(v) && !storeRE.MatchString(v) {
		c.errf(field, "%s %q must be a file:///path or s3://bucket/prefix URL", field, v)
	}
}

var remoteDirRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:\[\]-]+:/`)

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
