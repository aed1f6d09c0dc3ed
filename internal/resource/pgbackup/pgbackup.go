// Package pgbackup implements the postgres_backup resource: everything a
// host needs to archive a PostgreSQL cluster's WAL continuously and take
// base backups on a schedule. It is made of simpler resources, converged in
// order: tend's own binary at a stable path (archive_command runs it), the
// configuration file, the envdir of store credentials, the server settings
// (archive_mode, archive_command, archive_timeout) and the systemd timer of
// base backups. Backups themselves live in internal/pitr.
package pgbackup

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
	"strconv"
	"time"

	"tend/internal/pitr"
	"tend/internal/resource"
	resenvdir "tend/internal/resource/envdir"
	"tend/internal/resource/file"
	"tend/internal/resource/postgres"
	"tend/internal/resource/timer"
	"tend/internal/spec"
)

// Binary is where hosts keep the tend binary that archive_command and the
// backup timer run: a stable path, replaced atomically when tend changes.
const Binary = "/usr/local/lib/tend/tend"

type part struct {
	name   string
	r      resource.Resource
	secret bool
}

// Backup is the postgres_backup resource.
type Backup struct {
	Name  string
	parts []part
}

// ConfigPath is the configuration file of the backup named name.
func ConfigPath(name string) string { return filepath.Join(pitr.ConfigDir, name+".json") }

// Config is the host configuration of the backup named name.
func Config(name string, s *spec.PostgresBackup) pitr.Config {
	return pitr.Config{
		Name: name, Version: s.Version, Cluster: name, Store: s.Store,
		EnvDir: filepath.Join(pitr.ConfigDir, name+".env"), Recipients: s.Recipients,
		StateDir: filepath.Join(pitr.StateRoot, name), Parallel: s.Parallel,
	}
}

// New makes the resource from its spec.
func New(name string, s *spec.PostgresBackup) (*Backup, error) {
	timeout, err := time.ParseDuration(s.ArchiveTimeout)
	if err != nil {
		return nil, fmt.Errorf("archive_timeout: %w", err)
	}
	cfg := Config(name, s)
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	b := &Backup{Name: name}
	add := func(n string, r resource.Resource, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		b.parts = append(b.parts, part{name: n, r: r, secret: n == "credentials"})
		return nil
	}
	bin := &binary{path: Binary}
	dirs := []struct{ path, mode, owner string }{
		{filepath.Dir(Binary), "0755", "root"},
		{pitr.ConfigDir, "0755", "root"},
		{filepath.Dir(pitr.StateRoot), "0755", "root"},
		{pitr.StateRoot, "0755", "root"},
		{cfg.StateDir, "0700", "postgres"},
	}
	for _, d := range dirs {
		r, err := file.NewDirectory(d.path, &spec.Directory{Mode: d.mode, Owner: d.owner, Group: d.owner})
		if err := add("directory "+d.path, r, err); err != nil {
			return nil, err
		}
	}
	if err := add("binary", bin, nil); err != nil {
		return nil, err
	}
	conf, err := file.NewFile(ConfigPath(name), &spec.File{Content: string(js) + "\n", Mode: "0644", Owner: "root", Group: "root"})
	if err := add("config", conf, err); err != nil {
		return nil, err
	}
	env := s.Env
	if env == nil {
		env = map[string]string{}
	}
	ed, err := resenvdir.New(cfg.EnvDir, &spec.Envdir{Vars: env, Secret: true, Owner: "postgres", Group: "postgres"})
	if err := add("credentials", ed, err); err != nil {
		return nil, err
	}
	cmd := fmt.Sprintf("%s agent wal-push --config %s %%p", Binary, ConfigPath(name))
	st, err := postgres.NewSettings("backup-"+name, &spec.PostgresSettings{Settings: map[string]string{
		"archive_mode":    "on",
		"archive_command": cmd,
		"archive_timeout": strconv.Itoa(int(timeout / time.Second)),
		"wal_level":       "replica",
	}})
	if err := add("settings", st, err); err != nil {
		return nil, err
	}
	tm, err := timer.New("tend-pg-backup-"+name, &spec.Timer{OnCalendar: s.Schedule,
		Command: fmt.Sprintf("%s agent pg-backup --config %s", Binary, ConfigPath(name)), User: "root"})
	if err := add("timer", tm, err); err != nil {
		return nil, err
	}
	return b, nil
}

// Check implements resource.Resource: the parts' changes, each field
// prefixed with its part; the credentials never show values.
func (b *Backup) Check(ctx context.Context) (*resource.Change, error) {
	var out *resource.Change
	for _, p := range b.parts {
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
		if p.name == "binary" && c.Action == resource.Create {
			out.Action = resource.Create
		}
		if p.secret {
			out.Fields = append(out.Fields, resource.Field{Name: "credentials", From: "(sensitive)", To: "(sensitive value changed)"})
			continue
		}
		for _, f := range c.Fields {
			out.Fields = append(out.Fields, resource.Field{Name: p.name + " " + f.Name, From: f.From, To: f.To})
		}
		if c.Diff != "" {
			out.Diff += c.Diff
		}
		if len(c.Fields) == 0 && c.Diff == "" {
			out.Fields = append(out.Fields, resource.Field{Name: p.name, From: "", To: string(c.Action)})
		}
	}
	return out, nil
}

// Apply implements resource.Resource: each part is checked again and
// converged in order, so a part sees the parts before it in place.
func (b *Backup) Apply(ctx context.Context, _ *resource.Change) error {
	for _, p := range b.parts {
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
