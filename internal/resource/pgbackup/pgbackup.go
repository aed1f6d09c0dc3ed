// Package pgbackup implements the postgres_backup resource: everything a
// host needs to archive a PostgreSQL cluster's WAL continuously and take
// base backups on a schedule. It is made of simpler resources, converged in
// order: tend's own binary at a stable path (archive_command runs it), the
// configuration file, the envdir of store credentials, the server settings
// (archive_mode, archive_command, archive_timeout) and the systemd timer of
// base backups. Backups themselves live in internal/pitr.
package pgbackup

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tend/internal/pitr"
	"tend/internal/resource"
	resenvdir "tend/internal/resource/envdir"
	"tend/internal/resource/file"
	"tend/internal/resource/postgres"
	"tend/internal/resource/scheduled"
	"tend/internal/resource/timer"
	"tend/internal/spec"
)

// Binary is where hosts keep the tend binary that archive_command and the
// backup timer run.
const Binary = scheduled.Binary

// Backup is the postgres_backup resource.
type Backup struct {
	Name  string
	parts []scheduled.Part
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
		b.parts = append(b.parts, scheduled.NewPart(n, r, n == "credentials"))
		return nil
	}
	bin := scheduled.SelfBinary()
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
	if dir, ok := strings.CutPrefix(s.Store, "file://"); ok {
		// A directory store on the host: PostgreSQL's archive_command
		// (the postgres user) writes into it. Its parent must exist.
		if i := strings.IndexByte(dir, '?'); i >= 0 {
			dir = dir[:i]
		}
		r, err := file.NewDirectory(filepath.Clean(dir), &spec.Directory{Mode: "0700", Owner: "postgres", Group: "postgres"})
		if err := add("store directory", r, err); err != nil {
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
	st, err := postgres.NewSettings(settingsLabel(name), &spec.PostgresSettings{Restart: "allowed", Settings: map[string]string{
		"archive_mode":    "on",
		"archive_command": cmd,
		"archive_timeout": strconv.Itoa(int(timeout / time.Second)),
		"wal_level":       "replica",
	}})
	if err := add("settings", st, err); err != nil {
		return nil, err
	}
	tm, err := timer.New(timerName(name), &spec.Timer{OnCalendar: s.Schedule,
		Command: fmt.Sprintf("%s agent pg-backup --config %s", Binary, ConfigPath(name)), User: "root"})
	if err := add("timer", tm, err); err != nil {
		return nil, err
	}
	return b, nil
}

// Check implements resource.Resource: the parts' changes, each field
// prefixed with its part; the credentials never show values.
func (b *Backup) Check(ctx context.Context) (*resource.Change, error) {
	return scheduled.Check(ctx, b.parts)
}

// Apply implements resource.Resource: each part is checked again and
// converged in order, so a part sees the parts before it in place.
func (b *Backup) Apply(ctx context.Context, _ *resource.Change) error {
	return scheduled.Apply(ctx, b.parts)
}

// NewRemoval is the removal of the postgres_backup named name: its timer
// goes, archive_mode, archive_command, archive_timeout and wal_level are
// reset (with the restart archive_mode needs, as apply makes one to set
// them), then its configuration, credentials and local state go. The
// backups in the store are never touched. It needs only the name.
func NewRemoval(name string) (*scheduled.Removal, error) {
	st, err := postgres.NewSettingsRemoval(settingsLabel(name), "allowed")
	if err != nil {
		return nil, err
	}
	cfg := Config(name, &spec.PostgresBackup{})
	return &scheduled.Removal{
		Timer:    timerName(name),
		Settings: st,
		Paths: []scheduled.Path{
			{Name: "config", Path: ConfigPath(name)},
			{Name: "credentials", Path: cfg.EnvDir},
			{Name: "state", Path: cfg.StateDir},
		},
		Reason: "the backups already in the store stay there",
	}, nil
}

func settingsLabel(name string) string { return "backup-" + name }

func timerName(name string) string { return "tend-pg-backup-" + name }
