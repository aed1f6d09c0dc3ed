package pitr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// psql runs sql on the cluster as the postgres OS user and returns the
// unaligned, tuples-only output.
func (c *Config) psql(ctx context.Context, sql string, extra ...string) (string, error) {
	args := append([]string{"-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres"}, extra...)
	cmd := exec.CommandContext(ctx, "runuser", args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "PGCLUSTER="+c.Version+"/"+c.Cluster)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql on cluster %s/%s: %v: %s", c.Version, c.Cluster, err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// queryJSON runs a query returning one JSON value and decodes it.
func (c *Config) queryJSON(ctx context.Context, sql string, v any, extra ...string) error {
	out, err := c.psql(ctx, sql, extra...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("psql on cluster %s/%s: unexpected output %q: %v", c.Version, c.Cluster, clipText(out), err)
	}
	return nil
}

var (
	startRE = regexp.MustCompile(`write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline ([0-9]+)`)
	endRE   = regexp.MustCompile(`write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)`)
)

// BaseBackup takes a base backup of the cluster with pg_basebackup (tar
// format on standard output, with the WAL from its start to its end, so
// that it is consistent on its own) and stores it, sealed, in parts; the
// manifest is written last.
func (c *Config) BaseBackup(ctx context.Context, a *Archive, progress func(string)) (*Backup, error) {
	var info struct {
		SystemID string `json:"sysid"`
		SegSize  int64  `json:"segsize"`
		Mode     string `json:"archive_mode"`
	}
	if err := c.queryJSON(ctx, `SELECT json_build_object('sysid', (SELECT system_identifier::text FROM pg_control_system()),
		'segsize', (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
		'archive_mode', current_setting('archive_mode'));`, &info); err != nil {
		return nil, err
	}
	if info.Mode == "off" {
		return nil, fmt.Errorf("archive_mode is off on cluster %s/%s: a base backup without archived WAL cannot be restored (apply the postgres_backup resource, which turns it on and restarts PostgreSQL)", c.Version, c.Cluster)
	}
	a.SegSize = info.SegSize
	host := c.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	b := &Backup{ID: NewBackupID(time.Now()), Host: host, Cluster: c.Version + "/" + c.Cluster, SystemID: info.SystemID,
		SegSize: info.SegSize, StartTime: time.Now().UTC(), WALIncluded: true}
	cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "pg_basebackup", "-D", "-", "-F", "tar", "-X", "fetch",
		"--checkpoint=fast", "--no-manifest", "-v", "-l", "tend "+b.ID)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "PGCLUSTER="+c.Version+"/"+c.Cluster)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(fmt.Sprintf("backup %s: pg_basebackup started", b.ID))
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	parts, size, upErr := a.Upload(ctx, b.ID, out, 0)
	if upErr != nil {
		cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	if upErr != nil {
		return nil, fmt.Errorf("backup %s: %w", b.ID, upErr)
	}
	if waitErr != nil {
		return nil, fmt.Errorf("backup %s: pg_basebackup: %v: %s", b.ID, waitErr, clipText(strings.TrimSpace(errb.String())))
	}
	b.StopTime = time.Now().UTC()
	b.Parts, b.Size = parts, size
	sc := bufio.NewScanner(&errb)
	for sc.Scan() {
		line := sc.Text()
		if m := startRE.FindStringSubmatch(line); m != nil {
			b.StartLSN, _ = ParseLSN(m[1])
			tli, _ := strconv.ParseUint(m[2], 10, 32)
			b.Timeline = uint32(tli)
		}
		if m := endRE.FindStringSubmatch(line); m != nil {
			b.StopLSN, _ = ParseLSN(m[1])
		}
	}
	if b.Timeline == 0 || b.StopLSN == 0 {
		return nil, fmt.Errorf("backup %s: pg_basebackup did not report its start and end points", b.ID)
	}
	if err := a.Commit(ctx, b); err != nil {
		return nil, fmt.Errorf("backup %s: %w", b.ID, err)
	}
	return b, nil
}

func clipText(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}
