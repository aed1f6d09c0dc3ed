package pitr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"tend/internal/seal"
)

// Request is one backup operation asked of a host's agent by `tend db`,
// sent as JSON on the agent's standard input (never in arguments: it may
// hold credentials and the backup identity).
type Request struct {
	Op       string            `json:"op"` // status, backups, backup, restore, drill, check
	Config   Config            `json:"config"`
	Env      map[string]string `json:"env,omitempty"`      // store credentials for this operation
	Identity string            `json:"identity,omitempty"` // age identities, to read backups
	Target   Target            `json:"target"`             // restore
	ReadData bool              `json:"read_data,omitempty"`
	Query    string            `json:"query,omitempty"` // drill
	Binary   string            `json:"binary,omitempty"`
}

// Backups is the answer to the backups operation.
type BackupList struct {
	Windows    []Window     `json:"windows"`
	Incomplete []Incomplete `json:"incomplete,omitempty"`
	WALFiles   int          `json:"wal_files"`
}

// PruneResult is the answer to the prune operation.
type PruneResult struct {
	Plan    *PrunePlan `json:"plan"`
	Applied bool       `json:"applied"`
	// KeptByLock: what the store's object lock kept of what was deleted.
	KeptByLock LockKept `json:"kept_by_lock"`
}

// Serve carries out a request on this host.
func Serve(ctx context.Context, req *Request, progress func(string)) (any, error) {
	c := &req.Config
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	ids, err := parseIdentities(req.Identity)
	if err != nil {
		return nil, err
	}
	a, err := c.Open(ctx, req.Env, ids)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case "status":
		return c.Status(ctx, a), nil
	case "backups":
		ws, inc, wal, err := a.Load(ctx)
		if err != nil {
			return nil, err
		}
		return &BackupList{Windows: ws, Incomplete: inc, WALFiles: len(wal)}, nil
	case "backup":
		return c.BaseBackup(ctx, a, progress)
	case "check":
		problems, err := a.Check(ctx, req.ReadData)
		if err != nil {
			return nil, err
		}
		return problems, nil
	case "prune":
		// Pruning needs credentials that may delete every backup: it runs
		// where tend db prune is launched (PruneHere), never on a host.
		return nil, fmt.Errorf("prune is not done on a database host: run tend db prune from CI or the controller, with credentials that may delete")
	case "restore", "drill":
		drill := req.Op == "drill"
		if len(ids) == 0 {
			return nil, fmt.Errorf("a restore needs the backup identity")
		}
		cleanup, fetchConf, bin, err := c.fetchSetup(req)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		res, err := c.Restore(ctx, a, RestoreOptions{Target: req.Target, Scratch: drill, Query: req.Query,
			FetchConfig: fetchConf, Binary: bin, Progress: progress})
		if drill {
			host, _ := os.Hostname()
			rec := &DrillRecord{Time: time.Now().UTC(), Host: host, OK: err == nil, Query: req.Query}
			if err != nil {
				rec.Error = err.Error()
			} else {
				rec.Backup, rec.ReplayedTo, rec.QueryResult, rec.Duration = res.Backup, res.ReplayedTo, res.QueryResult, res.Duration
			}
			if rerr := a.RecordDrill(ctx, rec); rerr != nil && err == nil {
				err = fmt.Errorf("the drill passed but its result could not be recorded: %w", rerr)
			}
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

// fetchSetup writes, for one restore, what restore_command needs: the
// configuration, the credentials, the identity and a copy of this binary,
// in a directory under /run (memory, not disk) that only postgres can
// read, removed afterwards. It returns the cleanup, the configuration's
// path and the binary's.
func (c *Config) fetchSetup(req *Request) (func(), string, string, error) {
	cleanup, path, err := c.fetchFiles(req)
	if err != nil {
		return nil, "", "", err
	}
	dir := filepath.Dir(path)
	bin := filepath.Join(dir, "tend")
	self, err := os.Executable()
	if err == nil {
		err = copyFile(self, bin, 0o755)
	}
	if err == nil {
		var uid, gid int
		if uid, gid, err = postgresIDs(); err == nil {
			err = os.Chown(bin, uid, gid)
		}
	}
	if err != nil {
		cleanup()
		return nil, "", "", err
	}
	return cleanup, path, bin, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

func (c *Config) fetchFiles(req *Request) (func(), string, error) {
	dir, err := os.MkdirTemp("/run", "tend-restore-")
	if err != nil {
		return nil, "", err
	}
	cleanup := func() { os.RemoveAll(dir) }
	uid, gid, err := postgresIDs()
	if err != nil {
		cleanup()
		return nil, "", err
	}
	fc := *c
	fc.IdentityFile = filepath.Join(dir, "identity")
	fc.EnvDir = filepath.Join(dir, "env")
	if err := os.Mkdir(fc.EnvDir, 0o700); err != nil {
		cleanup()
		return nil, "", err
	}
	getenv, err := c.Env(req.Env)
	if err != nil {
		cleanup()
		return nil, "", err
	}
	for _, k := range storeEnv {
		if v := getenv(k); v != "" {
			if err := writeOwned(filepath.Join(fc.EnvDir, k), v+"\n", uid, gid); err != nil {
				cleanup()
				return nil, "", err
			}
		}
	}
	if err := writeOwned(fc.IdentityFile, req.Identity+"\n", uid, gid); err != nil {
		cleanup()
		return nil, "", err
	}
	js, _ := json.Marshal(fc)
	path := filepath.Join(dir, "config.json")
	if err := writeOwned(path, string(js), uid, gid); err != nil {
		cleanup()
		return nil, "", err
	}
	for _, p := range []string{dir, fc.EnvDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			cleanup()
			return nil, "", err
		}
	}
	return cleanup, path, nil
}

// storeEnv are the variables the stores read.
var storeEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"}

func parseIdentities(text string) ([]age.Identity, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	return seal.ParseIdentities(strings.NewReader(text))
}

// Identities reads the identity file of a restore configuration.
func (c *Config) Identities() ([]age.Identity, error) {
	if c.IdentityFile == "" {
		return nil, nil
	}
	f, err := os.Open(c.IdentityFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return seal.ParseIdentities(f)
}
