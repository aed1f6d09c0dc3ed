package pitr

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"tend/internal/atomicfile"
	"tend/internal/hint"
	"time"
)

// RestoreOptions say what to restore and where.
type RestoreOptions struct {
	Target Target
	// Scratch restores into a new directory and runs a private server
	// there (on a Unix socket only, archiving off), for a drill; the
	// cluster is not touched. Otherwise the cluster itself is replaced:
	// stopped, its data directory kept aside, restored and started.
	Scratch bool
	// Query is run on the restored server before it stops (drills).
	Query string
	// FetchConfig is the path of the configuration restore_command reads
	// (with the identity and credentials for this restore).
	FetchConfig string
	// Binary is the tend binary restore_command runs.
	Binary   string
	Progress func(string)
	Timeout  time.Duration // for recovery; default 6 hours
}

// RestoreResult is what a restore did and verified.
type RestoreResult struct {
	Backup      string    `json:"backup"`
	BackupTime  time.Time `json:"backup_time"`
	Target      string    `json:"target"`
	ReplayedTo  time.Time `json:"replayed_to,omitempty"` // the last transaction replayed
	Timeline    uint32    `json:"timeline"`              // after promotion
	EndLSN      string    `json:"end_lsn"`               // where recovery ended
	LastArchive string    `json:"last_archived"`         // the last segment of the backup's unbroken run
	DataDir     string    `json:"data_dir"`
	KeptAside   string    `json:"kept_aside,omitempty"` // the data directory before the restore
	QueryResult string    `json:"query_result,omitempty"`
	Duration    string    `json:"duration"`
}

// Restore restores the base backup chosen for the target, replays the
// archive to the target, checks where recovery stopped and promotes.
func (c *Config) Restore(ctx context.Context, a *Archive, o RestoreOptions) (*RestoreResult, error) {
	began := time.Now()
	say := func(f string, args ...any) {
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(f, args...))
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 6 * time.Hour
	}
	ws, _, _, err := a.Load(ctx)
	if err != nil {
		return nil, err
	}
	w, err := Choose(ws, o.Target)
	if err != nil {
		return nil, err
	}
	b := w.Backup
	if v, _, _ := strings.Cut(b.Cluster, "/"); v != c.Version {
		return nil, fmt.Errorf("backup %s is of PostgreSQL %s, this cluster is %s: restore onto a host with PostgreSQL %s", b.ID, v, c.Version, v)
	}
	a.SegSize = b.SegSize
	res := &RestoreResult{Backup: b.ID, BackupTime: b.StopTime, Target: o.Target.String(), LastArchive: w.Last}
	say("restoring backup %s (ended %s), then WAL up to %s", b.ID, b.StopTime.UTC().Format(time.RFC3339), o.Target)
	uid, gid, err := postgresIDs()
	if err != nil {
		return nil, err
	}

	data := c.DataDir()
	if o.Scratch {
		data = filepath.Join(c.StateDir, "drill-"+time.Now().UTC().Format("20060102T150405"))
		if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
			return nil, err
		}
	} else {
		say("stopping %s", c.Unit())
		if out, err := exec.CommandContext(ctx, "systemctl", "stop", c.Unit()).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("stopping %s: %v: %s", c.Unit(), err, out)
		}
		if _, err := os.Stat(data); err == nil {
			aside := data + ".before-restore-" + time.Now().UTC().Format("20060102T150405")
			if err := os.Rename(data, aside); err != nil {
				// Some file systems (overlayfs) cannot rename directories:
				// mv copies then removes.
				if out, err := exec.CommandContext(ctx, "mv", "-T", data, aside).CombinedOutput(); err != nil {
					return nil, fmt.Errorf("keeping the current data directory aside: %v: %s", err, out)
				}
			}
			res.KeptAside = aside
			say("the current data directory is kept at %s", aside)
		}
	}
	res.DataDir = data
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(data, uid, gid); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(a.Read(ctx, &b, pw)) }()
	if err := extract(pr, data, uid, gid); err != nil {
		pr.CloseWithError(err)
		return nil, fmt.Errorf("restoring backup %s into %s: %w", b.ID, data, err)
	}
	for _, d := range []string{"pg_wal", "pg_wal/archive_status"} {
		p := filepath.Join(data, d)
		os.MkdirAll(p, 0o700)
		os.Chown(p, uid, gid)
	}
	os.Remove(filepath.Join(data, "postmaster.pid"))
	say("base backup restored (%d MB)", b.Size>>20)

	restoreCmd := fmt.Sprintf("%s agent wal-fetch --config %s %%f %%p", o.Binary, o.FetchConfig)
	// Recovery stops short of promotion first, and tend checks from the
	// log where it stopped before it promotes.
	//
	// To a time: recovery pauses at the target (recovery_target_action =
	// pause, which needs hot_standby); tend reads where it stopped, checks
	// that it is after the target's last transaction, and promotes the
	// paused server with pg_promote(): the WAL is replayed once. A store
	// that fails before the target makes PostgreSQL end recovery without
	// reaching it, and stop, never promote.
	//
	// To latest: recovery runs to the end of the WAL it could fetch (an
	// unreachable LSN target makes PostgreSQL stop there instead of
	// promoting); tend checks that it reached the archive's last segment,
	// and only then starts again with a target at that very point, to
	// promote: a store that fails in between makes the second run stop
	// short of its target, and PostgreSQL never promotes short of one.
	pause := !o.Target.Latest
	action := "shutdown"
	if pause {
		action = "pause"
	}
	settings := map[string]string{
		"restore_command":           restoreCmd,
		"recovery_target_action":    action,
		"recovery_target_timeline":  "current",
		"recovery_target_inclusive": "true",
		"timezone":                  "UTC", // times in the log
	}
	if o.Target.Latest {
		settings["recovery_target_lsn"] = "FFFFFFFF/FFFFFFFF"
	} else {
		settings["recovery_target_time"] = o.Target.Time.UTC().Format("2006-01-02 15:04:05.999999+00")
	}
	var conf string
	if o.Scratch {
		conf = filepath.Join(data, "postgresql.conf")
		settings["port"] = "5499"
		settings["listen_addresses"] = ""
		settings["unix_socket_directories"] = data
		settings["archive_mode"] = "off"
		settings["hba_file"] = filepath.Join(data, "pg_hba.conf")
		settings["ident_file"] = filepath.Join(data, "pg_ident.conf")
		settings["logging_collector"] = "off"
		settings["shared_buffers"] = "32MB"
		settings["hot_standby"] = "off"
		if pause {
			settings["hot_standby"] = "on" // pause needs it (else it shuts down)
		}
		if err := writeOwned(filepath.Join(data, "pg_hba.conf"), "local all postgres peer\n", uid, gid); err != nil {
			return nil, err
		}
		if err := writeOwned(filepath.Join(data, "pg_ident.conf"), "", uid, gid); err != nil {
			return nil, err
		}
	} else {
		conf = filepath.Join(c.ConfDir(), "conf.d", "zz-tend-restore.conf")
		defer os.Remove(conf)
		if pause {
			settings["hot_standby"] = "on"
		}
	}
	if err := writeOwned(conf, renderConf(settings), uid, gid); err != nil {
		return nil, err
	}
	if err := writeOwned(filepath.Join(data, "recovery.signal"), "", uid, gid); err != nil {
		return nil, err
	}

	logPath := filepath.Join("/var/log/postgresql", "postgresql-"+c.Version+"-"+c.Cluster+".log")
	if o.Scratch {
		logPath = filepath.Join(data, "restore.log")
	}
	var logStart int64
	markLog := func() {
		logStart = 0
		if fi, err := os.Stat(logPath); err == nil {
			logStart = fi.Size()
		}
	}
	logSince := func() string {
		f, err := os.Open(logPath)
		if err != nil {
			return ""
		}
		defer f.Close()
		f.Seek(logStart, io.SeekStart)
		buf, _ := io.ReadAll(io.LimitReader(f, 8<<20))
		return string(buf)
	}
	logTail := func() string { return lastLines(logSince(), 15) }
	psqlExtra := []string{}
	start := func() error {
		markLog()
		if o.Scratch {
			if err := c.pgctl(ctx, data, logPath, conf); err != nil {
				return fmt.Errorf("starting the drill server: %v\n%s", err, logTail())
			}
			return nil
		}
		exec.CommandContext(ctx, "systemctl", "start", c.Unit()).Run() // the wait below tells
		return nil
	}
	if o.Scratch {
		psqlExtra = []string{"-h", data, "-p", "5499"}
		defer func() {
			stop := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(c.BinDir(), "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
			stop.Dir = "/"
			stop.Run()
			os.RemoveAll(data)
		}()
	}
	deadline := time.Now().Add(o.Timeout)
	// wait waits for the server to stop (promoted false) or to be promoted.
	wait := func(promote bool) error {
		// pg_ctl -W returns before the server has written its pid file: a
		// server not running yet has not stopped. It has once it ran, or
		// once its log says it shut down.
		began, seen := time.Now(), false
		for {
			out, err := c.psql(ctx, "SELECT pg_is_in_recovery();", psqlExtra...)
			if err == nil && out == "f" {
				if promote {
					return nil
				}
				return fmt.Errorf("the server left recovery before tend checked where it stopped: do not use it; its log:\n%s", logTail())
			}
			running := c.running(ctx, data)
			seen = seen || running || err == nil
			if err != nil && !running {
				if seen || strings.Contains(logSince(), "database system is shut down") {
					return nil
				}
				if time.Since(began) > time.Minute {
					return fmt.Errorf("the server did not start within a minute; nothing was promoted. Its log:\n%s", logTail())
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("recovery did not end within %s; the server is left running in recovery, not promoted. Its log:\n%s", o.Timeout, logTail())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}

	// waitPaused waits until recovery paused at its target (true), or the
	// server stopped (false: the log says why).
	waitPaused := func() (bool, error) {
		began, seen := time.Now(), false
		for {
			out, err := c.psql(ctx, "SELECT pg_is_in_recovery(), pg_is_wal_replay_paused();", psqlExtra...)
			switch {
			case err == nil && strings.HasPrefix(out, "f"):
				return false, fmt.Errorf("the server left recovery before tend checked where it stopped: do not use it; its log:\n%s", logTail())
			case err == nil && out == "t|t" && strings.Contains(logSince(), "recovery stopping "):
				return true, nil
			}
			running := c.running(ctx, data)
			seen = seen || running || err == nil
			if err != nil && !running {
				if seen || strings.Contains(logSince(), "database system is shut down") {
					return false, nil
				}
				if time.Since(began) > time.Minute {
					return false, fmt.Errorf("the server did not start within a minute; nothing was promoted. Its log:\n%s", logTail())
				}
			}
			if time.Now().After(deadline) {
				return false, fmt.Errorf("recovery did not end within %s; the server is left running in recovery, not promoted. Its log:\n%s", o.Timeout, logTail())
			}
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	say("replaying WAL to %s (stopping there, before promotion)", o.Target)
	if err := start(); err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	paused := false
	if pause {
		var err error
		if paused, err = waitPaused(); err != nil {
			return nil, err
		}
	} else if err := wait(false); err != nil {
		return nil, err
	}
	stop := parseRecoveryLog(logSince())
	reached := stop.reached()
	if err := checkStop(o.Target, w, stop); err != nil {
		if paused && !o.Scratch {
			// Paused where it should not be promoted: stopped, as the
			// message says (a drill's server is stopped on return).
			exec.CommandContext(ctx, "systemctl", "stop", c.Unit()).Run()
		}
		if errors.Is(err, errStopUnknown) {
			return nil, fmt.Errorf("%w. Its log:\n%s", err, logTail())
		}
		return nil, err
	}
	if o.Target.Latest {
		settings["recovery_target_lsn"] = stop.redoDone.String()
	}
	say("recovery stopped at %s as asked; promoting", reached)
	if paused {
		// Promote where it paused: the WAL is not replayed again.
		if out, err := c.psql(ctx, "SELECT pg_promote(true, 60);", psqlExtra...); err != nil || out != "t" {
			return nil, fmt.Errorf("promoting the paused server: %v %s; its log:\n%s", err, out, logTail())
		}
	} else {
		settings["recovery_target_action"] = "promote"
		if err := writeOwned(conf, renderConf(settings), uid, gid); err != nil {
			return nil, err
		}
		if err := start(); err != nil {
			return nil, err
		}
	}
	if err := wait(true); err != nil {
		return nil, err
	}
	if out, err := c.psql(ctx, "SELECT pg_is_in_recovery();", psqlExtra...); err != nil || out != "f" {
		return nil, fmt.Errorf("recovery failed: the server stopped before reaching %s again; nothing was promoted. Its log:\n%s", reached, logTail())
	}
	var st struct {
		Replayed *time.Time `json:"replayed"`
		TLI      uint32     `json:"tli"`
	}
	if err := c.queryJSON(ctx, `SELECT json_build_object('replayed', pg_last_xact_replay_timestamp(),
		'tli', ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint);`, &st, psqlExtra...); err != nil {
		return nil, err
	}
	res.Timeline = st.TLI
	if st.Replayed != nil {
		res.ReplayedTo = st.Replayed.UTC()
	}
	// The new timeline's history file says where recovery ended.
	histPath := filepath.Join(data, "pg_wal", fmt.Sprintf("%08X.history", st.TLI))
	hist, err := os.ReadFile(histPath)
	if err != nil {
		return nil, fmt.Errorf("reading the new timeline's history file, which says where recovery ended: %w; the server was promoted but the restore is not verified: do not use it", err)
	}
	end, ok := switchPoint(string(hist), b.Timeline)
	if !ok {
		return nil, fmt.Errorf("%s does not say where timeline %d ended; the server was promoted but the restore is not verified: do not use it", histPath, b.Timeline)
	}
	res.EndLSN = end.String()
	if o.Target.Latest && end < stop.redoDone {
		return nil, fmt.Errorf("recovery ended at %s, before %s which the first run reached; the server was promoted but should not be used", end, stop.redoDone)
	}
	if !o.Target.Latest && !res.ReplayedTo.IsZero() && res.ReplayedTo.After(o.Target.Time) {
		return nil, fmt.Errorf("recovery replayed a transaction of %s, after the target %s", res.ReplayedTo.Format(time.RFC3339Nano), o.Target)
	}
	if o.Query != "" {
		out, err := c.psql(ctx, o.Query, psqlExtra...)
		if err != nil {
			return nil, fmt.Errorf("drill query: %w", err)
		}
		res.QueryResult = out
	}
	if !o.Scratch {
		os.Remove(conf)
		c.psql(ctx, "SELECT pg_reload_conf();")
	}
	res.Duration = time.Since(began).Round(time.Millisecond).String()
	return res, nil
}

var errStopUnknown = errors.New("recovery failed: the server stopped without reaching its target; nothing was promoted")

// checkStop says whether the first recovery run stopped where it was
// asked to, so that promoting there is right: for a time target, at that
// time; for latest, in the last segment of w's unbroken run. An error
// says what was reached.
func checkStop(t Target, w *Window, stop recoveryStop) error {
	b := w.Backup
	reached := stop.reached()
	if t.Latest {
		if !stop.endedBeforeTarget || !stop.hasRedoDone {
			return errStopUnknown
		}
		endSeg := SegmentOf(b.Timeline, stop.redoDone, b.SegSize)
		last, ok := ParseSegment(w.Last, b.SegSize)
		if !ok || endSeg.TLI != last.TLI || endSeg.No < last.No {
			return hint.New(fmt.Sprintf("recovery reached only %s (segment %s) but the archive holds WAL up to %s: the store failed during the restore; nothing was promoted, the server is stopped",
				reached, endSeg.Name(b.SegSize), w.Last), "check the store (tend db status, tend db check) and run the restore again")
		}
		return nil
	}
	if stop.endedBeforeTarget {
		return hint.New(fmt.Sprintf("the archive ends before %s: recovery reached %s; nothing was promoted, the server is stopped", t, reached),
			"pick an earlier time, or restore --to latest to get the end of the archive")
	}
	if !stop.stopped {
		return errStopUnknown
	}
	if stop.stopBefore && !stop.stopTime.IsZero() && !stop.stopTime.After(t.Time) {
		return fmt.Errorf("recovery stopped at a transaction of %s, not after the target %s; nothing was promoted", stop.stopTime.Format(time.RFC3339Nano), t)
	}
	return nil
}

// pgctl starts a private server on data, without waiting.
func (c *Config) pgctl(ctx context.Context, data, logPath, conf string) error {
	cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", filepath.Join(c.BinDir(), "pg_ctl"), "-D", data,
		"-l", logPath, "-o", "-c config_file="+conf, "-W", "start")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// running reports whether a server still runs on the data directory.
func (c *Config) running(ctx context.Context, data string) bool {
	pid, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(pid), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return false
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", n))
	return err == nil
}

// switchPoint finds in a timeline history file where the timeline parent
// ended.
func switchPoint(hist string, parent uint32) (LSN, bool) {
	for _, line := range strings.Split(hist, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == strconv.Itoa(int(parent)) {
			if l, err := ParseLSN(f[1]); err == nil {
				return l, true
			}
		}
	}
	return 0, false
}

func renderConf(settings map[string]string) string {
	var b bytes.Buffer
	b.WriteString("# Written by tend for a restore; removed when it ends.\n")
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
	return b.String()
}

func writeOwned(path, content string, uid, gid int) error {
	if err := atomicfile.Write(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// extract writes a tar stream into dir, owned by uid:gid. Only regular
// files, directories and symbolic links inside dir are accepted.
func extract(r io.Reader, dir string, uid, gid int) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("refusing path %q outside the data directory", h.Name)
		}
		p := filepath.Join(dir, name)
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		default:
			continue
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeSymlink {
			os.Chtimes(p, h.ModTime, h.ModTime)
		}
	}
}

func postgresIDs() (uid, gid int, err error) {
	pg, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, errors.New("no postgres user on this host: install PostgreSQL first")
	}
	uid, _ = strconv.Atoi(pg.Uid)
	gid, _ = strconv.Atoi(pg.Gid)
	return uid, gid, nil
}
