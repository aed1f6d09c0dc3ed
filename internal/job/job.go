// Package job runs tend's scheduled jobs on hosts (file snapshots, replica
// pulls) and records each run, so that failures are never silent: a
// systemd timer runs "tend agent job --config FILE", which runs one tend
// command with the variables of an envdir, and writes the outcome to a
// status file. `tend status` reads every job's status and fails loudly when
// one failed or is late.
package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"tend/internal/atomicfile"
	"tend/internal/envdir"
	"tend/internal/wire"
)

// Dir holds the jobs' configurations on a host.
const Dir = "/etc/tend/jobs"

// StatusDir holds their status files.
const StatusDir = "/var/lib/tend/jobs"

// Config is one job, written by the resource that declares it.
type Config struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`    // file_backup, replica
	What   string   `json:"what"`    // shown by status: paths, source -> replica...
	EnvDir string   `json:"env_dir"` // variables for the command (credentials, keys)
	Args   []string `json:"args"`    // the tend command, without "tend"
	MaxAge string   `json:"max_age"` // a Go duration: older than this since the last success is late
	// StatusFile is where runs are recorded; default StatusPath(Name).
	StatusFile string `json:"status_file,omitempty"`
}

func (c *Config) statusFile() string {
	if c.StatusFile != "" {
		return c.StatusFile
	}
	return StatusPath(c.Name)
}

// Status is the record of a job's runs; a message of the wire, read by
// tend status.
type Status = wire.JobStatus

// StatusPath is where the job's status is recorded.
func StatusPath(name string) string { return filepath.Join(StatusDir, name+".json") }

// LockPath is the lock that keeps two runs of the job from overlapping.
func LockPath(name string) string { return StatusPath(name) + ".lock" }

// Load reads a job's configuration.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Name == "" || len(c.Args) == 0 {
		return nil, fmt.Errorf("%s: a job needs a name and a command", path)
	}
	return &c, nil
}

// Run runs the job with the binary self and records the outcome. The
// error is the command's: a failed job fails the systemd unit too.
//
// Two runs of one job never overlap (a timer firing while someone runs the
// job by hand): the second is refused at once, and not recorded as a
// failure of the job.
func Run(ctx context.Context, c *Config, self string) error {
	unlock, err := lockJob(c)
	if err != nil {
		return err
	}
	defer unlock()
	start := time.Now().UTC()
	env := os.Environ()
	if c.EnvDir != "" {
		changes, err := envdir.Read(c.EnvDir)
		if err != nil {
			return Record(c, start, "", err)
		}
		env = envdir.Apply(env, changes)
	}
	cmd := exec.CommandContext(ctx, self, c.Args...)
	cmd.Env = env
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	os.Stdout.Write(out.Bytes()) // to the journal
	if err != nil {
		err = fmt.Errorf("tend %s: %v: %s", c.Args[0], err, lastLines(out.String(), 5))
	}
	return Record(c, start, out.String(), err)
}

// Lock takes the job's lock, as a run does: for a resource that does the
// job's work itself (a certificate issued by apply), so that it never
// overlaps a run of the timer. It fails at once when a run holds it.
func Lock(c *Config) (unlock func(), err error) { return lockJob(c) }

// lockJob takes the job's lock (a flock next to its status file, released
// by the kernel when the process dies).
func lockJob(c *Config) (unlock func(), err error) {
	path := c.statusFile() + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("job %s: lock: %w", c.Name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("job %s: another run is in progress (%s): this one did not start", c.Name, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("job %s: lock %s: %w", c.Name, path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d, since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))), 0)
	return func() { f.Close() }, nil
}

// Record records the outcome of one run of the job that started at
// start, with the end of its output; it returns runErr, joined with a
// failure to record. A resource that does the job's work itself (a
// certificate issued by apply) records it so.
func Record(c *Config, start time.Time, out string, runErr error) error {
	path := c.statusFile()
	st, _ := read(path)
	st.Name, st.Kind, st.What, st.MaxAge = c.Name, c.Kind, c.What, c.MaxAge
	st.LastAttempt = start
	st.Duration = time.Since(start).Round(time.Millisecond).String()
	st.Output = lastLines(out, 10)
	if runErr != nil {
		st.LastError = runErr.Error()
		st.Failures++
	} else {
		st.LastSuccess, st.LastError, st.Failures = start, "", 0
	}
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return errors.Join(runErr, err)
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return errors.Join(runErr, fmt.Errorf("recording the job's status: %w", err))
	}
	return runErr
}

func read(path string) (Status, error) {
	var st Status
	data, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(data, &st)
	return st, err
}

// Check sets s.Problem when the job failed, never succeeded or is late.
func Check(s *Status, now time.Time) {
	max, _ := time.ParseDuration(s.MaxAge)
	switch {
	case s.LastAttempt.IsZero():
		s.Problem = "never ran"
	case s.LastError != "" && s.LastSuccess.IsZero():
		s.Problem = fmt.Sprintf("failing, never succeeded (%d runs): %s", s.Failures, s.LastError)
	case s.LastError != "":
		s.Problem = fmt.Sprintf("failing for %d runs, last success %s ago: %s", s.Failures, now.Sub(s.LastSuccess).Round(time.Second), s.LastError)
	case max > 0 && now.Sub(s.LastSuccess) > max:
		s.Problem = fmt.Sprintf("late: last success %s ago, more than %s (is its timer running? systemctl list-timers)", now.Sub(s.LastSuccess).Round(time.Second), max)
	}
}

// All reads every job configured on this host and its status, checked.
func All(now time.Time) ([]Status, error) {
	ents, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		c, err := Load(filepath.Join(Dir, e.Name()))
		if err != nil {
			out = append(out, Status{Name: e.Name(), Problem: err.Error()})
			continue
		}
		st, err := read(c.statusFile())
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			st.Problem = "unreadable status: " + err.Error()
		}
		st.Name, st.Kind, st.What, st.MaxAge = c.Name, c.Kind, c.What, c.MaxAge
		if st.Problem == "" {
			Check(&st, now)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
