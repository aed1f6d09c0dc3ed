package agent

import (
	"context"
	"path/filepath"
	"time"

	"tend/internal/envdir"
	"tend/internal/job"
	"tend/internal/pitr"
	"tend/internal/resource/cert"
	"tend/internal/resource/postgres"
	"tend/internal/snapshot"
	"tend/internal/wire"
)

// Status is this host's answer to `tend status`: the record of every
// scheduled job, checked against its max_age at now, the health of every
// PostgreSQL backup and tunnel configured here, and every certificate
// installed by a certificate resource. A backup whose configuration cannot
// be opened is reported with that problem, not as an error.
func Status(ctx context.Context, now time.Time) (*wire.HostStatus, error) {
	hs := &wire.HostStatus{Protocol: wire.Protocol}
	var err error
	if hs.Jobs, err = job.All(now); err != nil {
		return nil, err
	}
	for i := range hs.Jobs {
		jobProtection(ctx, &hs.Jobs[i])
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
	hs.Certificates = cert.All(now)
	hs.Tunnels = tunnelStatus(ctx, now)
	if hs.PendingRestart, err = postgres.PendingRestart(ctx); err != nil {
		hs.PostgresError = err.Error()
	}
	return hs, nil
}

// jobProtection adds to a file_backup job's status whether its store
// refuses this host's deletes and overwrites, read with the job's own
// credentials (its envdir); an unprotected store is the job's problem.
func jobProtection(ctx context.Context, st *job.Status) {
	if st.Kind != "file_backup" {
		return
	}
	c, err := job.Load(filepath.Join(job.Dir, st.Name+".json"))
	if err != nil || c.EnvDir == "" {
		return
	}
	vars, err := envdir.Read(c.EnvDir)
	if err != nil {
		return
	}
	env := map[string]string{}
	for _, v := range vars {
		if !v.Unset {
			env[v.Name] = v.Value
		}
	}
	if env["TEND_SNAPSHOT_STORE"] == "" {
		return
	}
	var problem string
	if st.Protection, problem = snapshot.StoreProtection(ctx, env["TEND_SNAPSHOT_STORE"], func(k string) string { return env[k] }); problem != "" {
		if st.Problem != "" {
			st.Problem += "; "
		}
		st.Problem += problem
	}
}
