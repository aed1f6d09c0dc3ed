package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Settings are server settings written to conf.d/tend-LABEL.conf next to
// the server's postgresql.conf (Debian's postgresql.conf includes conf.d).
// Apply validates the configuration with the server's own parser before
// reloading. A setting that needs a restart (pg_settings.context
// 'postmaster') makes Apply restart the server only when Restart allows
// it; otherwise the new value waits (pg_settings.pending_restart) and every
// plan says "restart pending" until PostgreSQL is restarted.
type Settings struct {
	Label  string
	Values map[string]string
	// Restart: tend may restart PostgreSQL for a setting that needs it.
	Restart bool
}

var paramRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)?$`)

// NewSettings makes a settings resource from its spec; label is its name.
func NewSettings(label string, s *spec.PostgresSettings) (*Settings, error) {
	if label == "" || strings.HasPrefix(label, ".") || strings.ContainsAny(label, "/ \t\n") {
		return nil, fmt.Errorf("label %q must be a plain file name part (no '/', spaces, or leading '.')", label)
	}
	if len(s.Settings) == 0 {
		return nil, fmt.Errorf("settings is empty")
	}
	for k, v := range s.Settings {
		if !paramRE.MatchString(k) {
			return nil, fmt.Errorf("%q is not a PostgreSQL parameter name (lowercase, e.g. work_mem)", k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("setting %s: a value cannot contain a line break", k)
		}
	}
	restart, err := restartAllowed(s.Restart)
	if err != nil {
		return nil, err
	}
	return &Settings{Label: label, Values: s.Settings, Restart: restart}, nil
}

// restartAllowed reads the spec's restart field: "allowed", or "" and
// "never" (the default: tend never restarts PostgreSQL on its own).
func restartAllowed(s string) (bool, error) {
	switch s {
	case "allowed":
		return true, nil
	case "", "never":
		return false, nil
	}
	return false, fmt.Errorf("restart %q must be allowed or never", s)
}

// pendingReason is the Reason of a change whose settings wait for a
// restart tend may not make.
func pendingReason(names []string) string {
	return fmt.Sprintf("restart pending: %s take effect when PostgreSQL restarts, and this spec does not let tend restart it (restart: allowed); restart it yourself", strings.Join(names, ", "))
}

// render is the file's content: a header and one line per setting, sorted,
// every value quoted.
func render(label string, values map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by tend (postgres_settings %s): edit the repository, not this file.\n", label)
	for _, k := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(&b, "%s = %s\n", k, literal(values[k]))
	}
	return b.String()
}

// parseSettings reads back a file render wrote; other lines are ignored.
func parseSettings(content string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(content) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if !ok || strings.HasPrefix(k, "#") || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			continue
		}
		m[k] = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	return m
}

// serverInfo is what Check needs to know of the server.
type serverInfo struct {
	ConfigFile string `json:"config_file"`
	Cluster    string `json:"cluster"`
	BinDir     string `json:"bindir"`
	Loaded     string `json:"loaded"` // pg_conf_load_time()
	Params     map[string]struct {
		Context string `json:"context"`
		Pending bool   `json:"pending"`
	} `json:"params"`
}

func (s *Settings) info(ctx context.Context, names []string) (serverInfo, error) {
	var in serverInfo
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = literal(n)
	}
	_, err := query(ctx, "postgres", fmt.Sprintf(`SELECT json_build_object(
		'config_file', current_setting('config_file'), 'cluster', current_setting('cluster_name'),
		'bindir', (SELECT setting FROM pg_config WHERE name = 'BINDIR'), 'loaded', pg_conf_load_time()::text,
		'params', (SELECT coalesce(json_object_agg(name, json_build_object('context', context, 'pending', pending_restart)), '{}')
		           FROM pg_settings WHERE name = ANY(ARRAY[%s]::text[])));`, strings.Join(quoted, ", ")), &in)
	return in, err
}

func (s *Settings) path(in serverInfo) string {
	return filepath.Join(filepath.Dir(in.ConfigFile), "conf.d", "tend-"+s.Label+".conf")
}

// includeRE finds the line of postgresql.conf that includes conf.d.
var includeRE = regexp.MustCompile(`(?m)^\s*include_dir\s*=?\s*'conf\.d'`)

// Check implements resource.Resource: it compares the file, and reports a
// restart when a changed setting needs one or one is still pending.
func (s *Settings) Check(ctx context.Context) (*resource.Change, error) {
	want := render(s.Label, s.Values)
	// The file is found through the server; read it first to learn the
	// names it sets, then ask about all of them.
	in, err := s.info(ctx, nil)
	if errors.Is(err, errNoServer) {
		c := &resource.Change{Action: resource.Create}
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			c.Add(k, "", s.Values[k])
		}
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	conf, err := os.ReadFile(in.ConfigFile)
	if err != nil {
		return nil, err
	}
	if !includeRE.Match(conf) {
		return nil, fmt.Errorf("%s does not include conf.d, where tend writes settings: add the line include_dir = 'conf.d' to it", in.ConfigFile)
	}
	path := s.path(in)
	old, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	have := parseSettings(string(old))
	names := slices.Sorted(maps.Keys(s.Values))
	for k := range have {
		if _, ok := s.Values[k]; !ok {
			names = append(names, k)
		}
	}
	if in, err = s.info(ctx, names); err != nil {
		return nil, err
	}
	for _, k := range names {
		_, desired := s.Values[k]
		if _, known := in.Params[k]; desired && !known && !strings.Contains(k, ".") {
			return nil, fmt.Errorf("%q is not a setting of this PostgreSQL server (see the pg_settings view)", k)
		}
	}
	c := &resource.Change{Action: resource.Update}
	if string(old) != want {
		if !exists {
			c.Action = resource.Create
		}
		var restart []string
		for _, k := range slices.Sorted(slices.Values(names)) {
			v, ok := s.Values[k]
			if ov, had := have[k]; ok != had || v != ov {
				c.Add(k, have[k], v)
				if in.Params[k].Context == "postmaster" {
					restart = append(restart, k)
				}
			}
		}
		switch {
		case len(restart) > 0 && s.Restart:
			c.Add("restart", "", "needed")
		case len(restart) > 0:
			c.Add("restart", "", "pending")
			c.Reason = pendingReason(restart)
		}
		if len(c.Fields) == 0 { // only the header or the layout differ
			c.Fields = append(c.Fields, resource.Field{Name: "file", From: "changed", To: "changed"})
		}
		c.Diff = resource.Diff(path, string(old), want)
		return c, nil
	}
	if err := s.overridden(ctx, path); err != nil {
		return nil, err
	}
	if p := pending(in, names); len(p) > 0 {
		if s.Restart {
			c.Add("restart", "pending ("+strings.Join(p, ", ")+")", "done")
		} else {
			c.Add("restart", "pending ("+strings.Join(p, ", ")+")", "not allowed")
			c.Reason = pendingReason(p)
			c.Action = resource.Pending
		}
		return c, nil
	}
	return nil, nil
}

// pending lists the settings among names whose new value waits for a
// restart.
func pending(in serverInfo, names []string) []string {
	var out []string
	for _, k := range names {
		if in.Params[k].Pending {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// overridden fails when a setting of the file is overridden by a file read
// later (postgresql.auto.conf, written by ALTER SYSTEM, or another conf.d
// file): tend's value would never apply.
func (s *Settings) overridden(ctx context.Context, path string) error {
	var rows []struct {
		Name string `json:"name"`
		File string `json:"file"`
		Line int    `json:"line"`
	}
	quoted := make([]string, 0, len(s.Values))
	for _, k := range slices.Sorted(maps.Keys(s.Values)) {
		quoted = append(quoted, literal(k))
	}
	_, err := query(ctx, "postgres", fmt.Sprintf(`SELECT coalesce(json_agg(json_build_object('name', f.name, 'file', f.sourcefile, 'line', f.sourceline) ORDER BY f.seqno), '[]')
		FROM pg_file_settings f WHERE f.name = ANY(ARRAY[%s]::text[]) AND f.sourcefile <> %s
		AND f.seqno > (SELECT max(o.seqno) FROM pg_file_settings o WHERE o.name = f.name AND o.sourcefile = %s);`,
		strings.Join(quoted, ", "), literal(path), literal(path)), &rows)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		r := rows[0]
		hint := "remove it there"
		if filepath.Base(r.File) == "postgresql.auto.conf" {
			hint = fmt.Sprintf("run ALTER SYSTEM RESET %s", r.Name)
		}
		return fmt.Errorf("setting %s is overridden by %s line %d, read after tend's %s: %s", r.Name, r.File, r.Line, path, hint)
	}
	return nil
}

// Apply implements resource.Resource: write the file, validate the whole
// configuration with the server's parser (postgres -C) and put the old
// file back if it fails, reload, and restart when a setting waits for it.
func (s *Settings) Apply(ctx context.Context, c *resource.Change) error {
	in, err := s.info(ctx, nil)
	if err != nil {
		return err
	}
	path := s.path(in)
	old, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	want := render(s.Label, s.Values)
	names := slices.Sorted(maps.Keys(s.Values))
	for k := range parseSettings(string(old)) {
		if _, ok := s.Values[k]; !ok {
			names = append(names, k)
		}
	}
	if string(old) != want {
		meta := resource.Meta{Mode: 0o644, Owner: "postgres", Group: "postgres"}
		if err := resource.WriteFile(path, []byte(want), meta); err != nil {
			return err
		}
		if err := validate(ctx, in); err != nil {
			if existed {
				err = errors.Join(err, resource.WriteFile(path, old, meta))
			} else {
				err = errors.Join(err, os.Remove(path))
			}
			return fmt.Errorf("%w (%s was put back as it was)", err, path)
		}
	}
	if err := reload(ctx, in.Loaded); err != nil {
		return err
	}
	if in, err = s.info(ctx, names); err != nil {
		return err
	}
	if p := pending(in, names); len(p) > 0 && s.Restart {
		if err := restart(ctx, in, p); err != nil {
			return err
		}
	}
	return s.overridden(ctx, path)
}

// restart restarts the server for the pending settings p.
func restart(ctx context.Context, in serverInfo, p []string) error {
	if in.Cluster == "" || !strings.Contains(in.Cluster, "/") {
		return fmt.Errorf("%s need a restart, but the cluster's name %q does not give its systemd unit (Debian names it like 15/main): restart PostgreSQL yourself", strings.Join(p, ", "), in.Cluster)
	}
	unit := "postgresql@" + strings.Replace(in.Cluster, "/", "-", 1) + ".service"
	if _, err := resource.Command(ctx, "systemctl", "restart", unit); err != nil {
		return fmt.Errorf("restart for %s: %w", strings.Join(p, ", "), err)
	}
	return nil
}

// validate parses the server's whole configuration as the server would at
// start, without starting it: postgres --config-file=... -C.
func validate(ctx context.Context, in serverInfo) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return errNoServer
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.CommandContext(ctx, filepath.Join(in.BinDir, "postgres"), "--config-file="+in.ConfigFile, "-C", "data_directory")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		var lines []string
		for line := range strings.Lines(string(out)) {
			// "2025-... UTC [123] LOG:  invalid value ...": keep the message.
			if _, msg, ok := strings.Cut(line, "] "); ok {
				line = msg
			}
			lines = append(lines, strings.TrimSpace(line))
		}
		return fmt.Errorf("the new configuration is invalid: %s", strings.Join(lines, "; "))
	}
	return nil
}

// reload makes the server reread its configuration and waits until it
// has: a new connection then sees the new settings (pg_settings).
func reload(ctx context.Context, before string) error {
	if _, err := psql(ctx, "postgres", "SELECT pg_reload_conf();\n"); err != nil {
		return err
	}
	for range 100 {
		var loaded string
		if _, err := query(ctx, "postgres", "SELECT to_json(pg_conf_load_time()::text);\n", &loaded); err != nil {
			return err
		}
		if loaded != before {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server did not reload its configuration within 10 seconds: see its log")
}
