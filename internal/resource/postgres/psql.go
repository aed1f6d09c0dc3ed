// Package postgres implements the PostgreSQL resources: server settings
// (postgres_settings), pg_hba.conf entries (postgres_hba), roles
// (postgres_role) and databases (postgres_database). They talk to the local
// server as the postgres OS user with psql over the Unix socket, SQL always
// on standard input (never in process arguments), and quote every name and
// value they put into SQL.
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// errNoServer means PostgreSQL is not installed (yet): no psql, or no
// postgres user. A plan on a fresh host meets it when a package resource
// installs PostgreSQL earlier in the same run.
var errNoServer = errors.New("PostgreSQL is not installed: no psql program or no postgres user (install the postgresql package first)")

// psql runs sql on database db of the local server as the postgres OS user
// and returns what it printed: unaligned, without headers or command tags.
// The script stops at the first error. The SQL goes on standard input, and
// errors never quote it: it may hold a password verifier.
func psql(ctx context.Context, db, sql string) (string, error) {
	path, err := exec.LookPath("psql")
	if err != nil {
		return "", errNoServer
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", errNoServer
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.CommandContext(ctx, path, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db)
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + u.HomeDir, "USER=postgres", "LC_ALL=C", "PGAPPNAME=tend",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	// standard_conforming_strings makes backslashes in literals plain
	// characters, which literal relies on.
	cmd.Stdin = strings.NewReader("SET standard_conforming_strings = on;\n" + sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		msg = strings.ReplaceAll(msg, "psql:<stdin>:", "line ")
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return out.String(), fmt.Errorf("psql (database %s): %s", db, msg)
	}
	return out.String(), nil
}

// query runs sql, which must print one JSON value (or nothing), and
// decodes it into v. It reports whether there was a value: JSON null and no
// output are none.
func query(ctx context.Context, db, sql string, v any) (bool, error) {
	out, err := psql(ctx, db, sql)
	if err != nil {
		return false, err
	}
	out = strings.TrimSpace(out)
	if out == "" || out == "null" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return false, fmt.Errorf("psql: unexpected output: %v", err)
	}
	return true, nil
}

// ident quotes a name (role, database) for SQL: "a ""b""".
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// literal quotes a string for SQL, doubling single quotes. Backslashes are plain
// characters (standard_conforming_strings, set by psql above).
func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// checkName refuses a name PostgreSQL would not keep as given: empty,
// with a NUL byte, or longer than 63 bytes (the server truncates it, so
// it would never match).
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s name is empty", what)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%s name %q contains a NUL byte", what, s)
	case len(s) > 63:
		return fmt.Errorf("%s name %q is longer than 63 bytes, PostgreSQL's limit", what, s)
	}
	return nil
}

// boolStr formats a boolean attribute for a change.
func boolStr(b bool) string { return strconv.FormatBool(b) }

// PendingRestart returns the settings of the local server whose new value
// waits for a restart (pg_settings.pending_restart), sorted; none when
// PostgreSQL is not installed.
func PendingRestart(ctx context.Context) ([]string, error) {
	var names []string
	_, err := query(ctx, "postgres", "SELECT json_agg(name ORDER BY name) FROM pg_settings WHERE pending_restart", &names)
	if errors.Is(err, errNoServer) {
		return nil, nil
	}
	return names, err
}
