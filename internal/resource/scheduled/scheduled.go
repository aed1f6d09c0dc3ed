// Package scheduled implements the resources of tend's scheduled jobs:
// file_backup (snapshots of paths) and replica (pulls of a store onto a
// storage host). Each is made of simpler resources, converged in order:
// tend's own binary at a stable path, an envdir holding the job's
// credentials and keys, the job's configuration (internal/job) and a
// systemd timer running "tend agent job". `tend status` reads what the
// runs record.
package scheduled

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tend/internal/job"
	"tend/internal/resource"
	resenvdir "tend/internal/resource/envdir"
	"tend/internal/resource/file"
	"tend/internal/resource/timer"
	"tend/internal/spec"
)

// Binary is where hosts keep the tend binary that timers and PostgreSQL's
// archive_command run: a stable path, replaced atomically when tend
// changes.
const Binary = "/usr/local/lib/tend/tend"

// EnvRoot holds the jobs' envdirs.
const EnvRoot = "/etc/tend/env"

type part struct {
	name   string
	r      resource.Resource
	secret bool
}

// Job is a scheduled job resource.
type Job struct {
	parts []part
}

// NewFileBackup makes the file_backup resource named name. s.Key is the
// host key the controller derived from the repository's write key for
// this host (see plan and package snapkey): snapshot create records the
// host named in it, the spec's host name, never the machine's hostname.
func NewFileBackup(name string, s *spec.FileBackup) (*Job, error) {
	env := map[string]string{
		"TEND_SNAPSHOT_STORE":      s.Store,
		"TEND_SNAPSHOT_KEY":        s.Key,
		"TEND_SNAPSHOT_RECIPIENTS": strings.Join(s.Recipients, "\n"),
	}
	for k, v := range s.Env {
		env[k] = v
	}
	args := []string{"snapshot", "create", "--tag", name}
	for _, e := range s.Exclude {
		args = append(args, "--exclude", e)
	}
	args = append(args, "--")
	args = append(args, s.Paths...)
	return newJob(job.Config{Name: "backup-" + name, Kind: "file_backup", What: strings.Join(s.Paths, " ") + " -> " + s.Store,
		Args: args, MaxAge: s.MaxAge}, env, s.Schedule)
}

// NewReplica makes the replica resource named name.
func NewReplica(name string, s *spec.Replica) (*Job, error) {
	keep, err := spec.ParseDays(s.KeepDeleted)
	if err != nil {
		return nil, err
	}
	c := job.Config{Name: "replica-" + name, Kind: "replica", MaxAge: s.MaxAge}
	if s.FromDir == "" {
		c.What = s.From + " -> " + s.To
		c.Args = []string{"replica", "pull-store", "--from", s.From, "--to", s.To, "--keep-deleted", fmt.Sprintf("%dh", int(keep.Hours()))}
		return newJob(c, s.Env, s.Schedule)
	}
	// A data directory: the key and the pinned host key are files beside
	// the job's configuration; the key is the job's secret.
	keyFile := filepath.Join(job.Dir, c.Name+".key")
	known := filepath.Join(job.Dir, c.Name+".known_hosts")
	_, hostPart, _ := strings.Cut(s.FromDir, "@")
	host := hostPart[:strings.LastIndex(hostPart, ":")]
	if s.Port != 22 {
		host = fmt.Sprintf("[%s]:%d", host, s.Port)
	}
	c.What = s.FromDir + " -> " + s.To
	c.Args = []string{"replica", "pull-dir", "--from", s.FromDir, "--to", s.To, "--ssh-key", keyFile, "--known-hosts", known,
		"--port", fmt.Sprint(s.Port), "--keep-hourly", fmt.Sprint(s.KeepHourly), "--keep-daily", fmt.Sprint(s.KeepDaily),
		"--keep-weekly", fmt.Sprint(s.KeepWeekly), "--keep-monthly", fmt.Sprint(s.KeepMonthly)}
	key := strings.TrimRight(s.SSHKey, "\n") + "\n"
	kf, err := file.NewFile(keyFile, &spec.File{Content: key, Mode: "0600", Owner: "root", Group: "root"})
	if err != nil {
		return nil, err
	}
	kh, err := file.NewFile(known, &spec.File{Content: host + " " + strings.TrimSpace(s.HostKey) + "\n", Mode: "0644", Owner: "root", Group: "root"})
	if err != nil {
		return nil, err
	}
	return newJob(c, s.Env, s.Schedule, NewPart("ssh key", kf, true), NewPart("known host", kh, false))
}

func newJob(c job.Config, env map[string]string, schedule string, extra ...Part) (*Job, error) {
	j := &Job{}
	add := func(n string, r resource.Resource, err error, secret bool) error {
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		j.parts = append(j.parts, part{name: n, r: r, secret: secret})
		return nil
	}
	for _, d := range []string{filepath.Dir(Binary), "/etc/tend", EnvRoot, job.Dir} {
		r, err := file.NewDirectory(d, &spec.Directory{Mode: "0755", Owner: "root", Group: "root"})
		if err := add("directory "+d, r, err, false); err != nil {
			return nil, err
		}
	}
	if err := add("binary", SelfBinary(), nil, false); err != nil {
		return nil, err
	}
	c.EnvDir = filepath.Join(EnvRoot, c.Name)
	if env == nil {
		env = map[string]string{}
	}
	ed, err := resenvdir.New(c.EnvDir, &spec.Envdir{Vars: env, Secret: true, Owner: "root", Group: "root"})
	if err := add("credentials", ed, err, true); err != nil {
		return nil, err
	}
	j.parts = append(j.parts, extra...)
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(job.Dir, c.Name+".json")
	cf, err := file.NewFile(conf, &spec.File{Content: string(js) + "\n", Mode: "0644", Owner: "root", Group: "root"})
	if err := add("config", cf, err, false); err != nil {
		return nil, err
	}
	tm, err := timer.New("tend-"+c.Name, &spec.Timer{OnCalendar: schedule, Command: fmt.Sprintf("%s agent job --config %s", Binary, conf), User: "root"})
	if err := add("timer", tm, err, false); err != nil {
		return nil, err
	}
	return j, nil
}

// Check implements resource.Resource.
func (j *Job) Check(ctx context.Context) (*resource.Change, error) { return Check(ctx, j.parts) }

// Apply implements resource.Resource.
func (j *Job) Apply(ctx context.Context, _ *resource.Change) error { return Apply(ctx, j.parts) }

// Part is one resource of a composite, named for messages; a secret
// part's changes never show values.
type Part = part

// NewPart makes a part.
func NewPart(name string, r resource.Resource, secret bool) Part {
	return part{name: name, r: r, secret: secret}
}

// Check returns the parts' changes as one, each field prefixed with its
// part.
func Check(ctx context.Context, parts []part) (*resource.Change, error) {
	return check(ctx, parts, false)
}

// check merges the parts' changes; brief keeps one field per changed part
// but for small updates (CheckBrief).
func check(ctx context.Context, parts []part, brief bool) (*resource.Change, error) {
	var out *resource.Change
	for _, p := range parts {
		c, err := p.r.Check(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if c == nil {
			continue
		}
		if out == nil {
			out = &resource.Change{Action: resource.Update}
		}
		if !brief && p.name == "binary" && c.Action == resource.Create {
			out.Action = resource.Create
		}
		fields := func() {
			for _, f := range c.Fields {
				out.Fields = append(out.Fields, resource.Field{Name: p.name + " " + f.Name, From: f.From, To: f.To})
			}
		}
		whole := resource.Field{Name: p.name, To: string(c.Action)}
		switch {
		case p.secret:
			out.Sensitive = true
			out.Fields = append(out.Fields, resource.Field{Name: p.name, From: "(sensitive)", To: "(sensitive value changed)"})
			continue
		case !brief:
			fields()
			if len(c.Fields) == 0 && c.Diff == "" {
				out.Fields = append(out.Fields, whole)
			}
		case len(c.Fields) > 0 && len(c.Fields) <= 2 && c.Action != resource.Create:
			fields()
		default:
			out.Fields = append(out.Fields, whole)
		}
		out.Diff += c.Diff
	}
	return out, nil
}

// Apply converges the parts in order, each checked again so that it sees
// the parts before it in place.
func Apply(ctx context.Context, parts []part) error {
	for _, p := range parts {
		c, err := p.r.Check(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if c == nil {
			continue
		}
		if err := p.r.Apply(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// SelfBinary is a resource keeping a copy of the running tend at Binary.
func SelfBinary() resource.Resource { return &binary{path: Binary} }

// binary keeps a copy of the running tend at a stable path.
type binary struct{ path string }

func self() ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(exe)
}

func digest(r io.Reader) string {
	h := sha256.New()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

func (b *binary) Check(ctx context.Context) (*resource.Change, error) {
	want, err := self()
	if err != nil {
		return nil, err
	}
	w := digest(bytes.NewReader(want))
	f, err := os.Open(b.path)
	if os.IsNotExist(err) {
		c := &resource.Change{Action: resource.Create}
		c.Add("sha256", "", w[:16])
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if h := digest(f); h != w {
		c := &resource.Change{Action: resource.Update}
		c.Add("sha256", h[:16], w[:16])
		return c, nil
	}
	return nil, nil
}

func (b *binary) Apply(ctx context.Context, _ *resource.Change) error {
	data, err := self()
	if err != nil {
		return err
	}
	return resource.WriteFile(b.path, data, resource.Meta{Mode: 0o755, Owner: "root", Group: "root"})
}

// CertJob is the name of the renewal job of the certificate named name.
func CertJob(name string) string { return "cert-" + name }

// NewCertRenewal makes the renewal job of the certificate named name, for
// names: twice a day, each run at a random time of its half day (as
// certbot does, so that hosts do not all call the CA at once), it runs
// "tend agent cert-renew NAME". A run that finds nothing to renew is a
// success: a job that has not succeeded for two days is late.
func NewCertRenewal(name string, names []string) (*Job, error) {
	j, err := newJob(CertJobConfig(name, names), nil, "*-*-* 00,12:00:00")
	if err != nil {
		return nil, err
	}
	for _, p := range j.parts {
		if t, ok := p.r.(*timer.Timer); ok {
			t.RandomDelay = "12h"
		}
	}
	return j, nil
}

// CertJobConfig is the configuration of the certificate's renewal job.
func CertJobConfig(name string, names []string) job.Config {
	return job.Config{Name: CertJob(name), Kind: "certificate", What: strings.Join(names, " "),
		Args: []string{"agent", "cert-renew", name}, MaxAge: "48h", EnvDir: filepath.Join(EnvRoot, CertJob(name))}
}

// NewCertRenewalRemoval is the removal of the certificate's renewal job.
func NewCertRenewalRemoval(name string) *Removal {
	return jobRemoval(CertJob(name), "")
}

// CheckBrief is Check with one field per changed part, for a composite
// whose parts are many and plain (directories, its own files): a part
// with one or two changed fields shows them, a bigger one says create or
// update; the diffs are kept whole.
func CheckBrief(ctx context.Context, parts []part) (*resource.Change, error) {
	return check(ctx, parts, true)
}
