package scheduled

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/job"
	"tend/internal/resource"
	"tend/internal/resource/timer"
)

// Removal removes what a scheduled job put on the host, in an order that
// never leaves a half-removed job running: its timer first (stopped,
// disabled, its units deleted; a run in progress is waited for), then
// Settings (postgres_backup's archive settings), then its files. What the
// job wrote to its store (snapshots, backups, a replica) is never touched,
// nor what several jobs share (tend's binary, the directories).
type Removal struct {
	Timer    string           // the timer's unit name, without .timer
	Settings resource.Remover // optional
	Paths    []Path           // files and directories, removed in order
	// Reason is said with the removal: where the job's data stays.
	Reason string
}

// Path is a file or directory of a removal, named for messages.
type Path struct {
	Name, Path string
}

// NewFileBackupRemoval is the removal of the file_backup named name. It
// needs only the name: every path derives from it.
func NewFileBackupRemoval(name string) *Removal {
	return jobRemoval("backup-"+name, "the snapshots already in the store stay there")
}

// NewReplicaRemoval is the removal of the replica named name.
func NewReplicaRemoval(name string) *Removal {
	r := jobRemoval("replica-"+name, "the replica's copy stays where it is")
	r.Paths = append(r.Paths,
		Path{"ssh key", filepath.Join(job.Dir, "replica-"+name+".key")},
		Path{"known host", filepath.Join(job.Dir, "replica-"+name+".known_hosts")})
	return r
}

func jobRemoval(name, reason string) *Removal {
	return &Removal{Timer: "tend-" + name, Reason: reason, Paths: []Path{
		{"config", filepath.Join(job.Dir, name+".json")},
		{"credentials", filepath.Join(EnvRoot, name)},
		{"status", job.StatusPath(name)},
		{"run lock", job.LockPath(name)},
	}}
}

func (r *Removal) units() []string {
	return []string{filepath.Join(timer.UnitDir, r.Timer+".timer"), filepath.Join(timer.UnitDir, r.Timer+".service")}
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CheckRemove implements resource.Remover. The job's parts are tend's by
// their names, so they go whoever made them first.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	c := &resource.Change{Action: resource.Delete}
	for _, u := range r.units() {
		ok, err := exists(u)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Add("timer", r.Timer, "")
			break
		}
	}
	if r.Settings != nil {
		sc, err := r.Settings.CheckRemove(ctx, how)
		if err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		if sc != nil {
			for _, f := range sc.Fields {
				c.Add("settings "+f.Name, f.From, f.To)
			}
			if sc.Reason != "" {
				c.Reason = sc.Reason
			}
		}
	}
	for _, p := range r.Paths {
		ok, err := exists(p.Path)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Add(p.Name, p.Path, "")
		}
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	if c.Reason == "" {
		c.Reason = r.Reason
	} else {
		c.Reason += "; " + r.Reason
	}
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	units := false
	for _, u := range r.units() {
		if ok, _ := exists(u); ok {
			units = true
		}
	}
	if units {
		// disable --now stops the timer; stopping the service waits
		// for a run in progress to end.
		if _, err := resource.Command(ctx, "systemctl", "disable", "--now", r.Timer+".timer"); err != nil {
			return err
		}
		if _, err := resource.Command(ctx, "systemctl", "stop", r.Timer+".service"); err != nil {
			return err
		}
		for _, u := range r.units() {
			if err := os.Remove(u); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := resource.SyncDir(timer.UnitDir); err != nil {
			return err
		}
		if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
		// Forget a failed last run, so that systemctl --failed does not
		// list a unit that is gone.
		_, _ = resource.Command(ctx, "systemctl", "reset-failed", r.Timer+".service", r.Timer+".timer")
	}
	if r.Settings != nil {
		sc, err := r.Settings.CheckRemove(ctx, how)
		if err != nil {
			return fmt.Errorf("settings: %w", err)
		}
		if sc != nil {
			if err := r.Settings.Remove(ctx, sc, how); err != nil {
				return fmt.Errorf("settings: %w", err)
			}
		}
	}
	for _, p := range r.Paths {
		if err := os.RemoveAll(p.Path); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if err := resource.SyncDir(filepath.Dir(p.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
