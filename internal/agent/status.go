package agent

import (
	"context"
	"path/filepath"
	"time"

	"tend/internal/job"
	"tend/internal/pitr"
	"tend/internal/resource/postgres"
	"tend/internal/wire"
)

// Status is this host's answer to `tend status`: the record of every
// scheduled job, checked against its max_age at now, and the health of
// every PostgreSQL backup configured here. A backup whose configuration
// cannot be opened is reported with that problem, not as an error.
func Status(ctx context.Context, now time.Time) (*wire.HostStatus, error) {
	hs := &wire.HostStatus{Protocol: wire.Protocol}
	var err error
	if hs.Jobs, err = job.All(now); err != nil {
		return nil, err
	}
	confs, _ := filepath.Glob(filepath.Join(pitr.ConfigDir, "*.json"))
	for _, p := range confs {
		c, a, err := pitr.OpenConfig(ctx, p)
		if err != nil {
			hs.Databases = append(hs.Databases, &wire.DBStatus{Cluster: p, Problems: []string{err.Error()}})
			continue
		}
		hs.Databases = append(hs.Databases, c.Status(ctx, a))
	}
	if hs.PendingRestart, err = postgres.PendingRestart(ctx); err != nil {
		hs.PostgresError = err.Error()
	}
	return hs, nil
}
