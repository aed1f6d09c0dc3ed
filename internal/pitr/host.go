package pitr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"tend/internal/envdir"
	"tend/internal/seal"
	"tend/internal/store/storeurl"
)

// Config is what a host's archiving and backups need, written by the
// postgres_backup resource to /etc/tend/pitr/NAME.json. It holds no
// secret: the store credentials are in the envdir EnvDir, and the host has
// only the recipients, never an identity.
type Config struct {
	Name       string   `json:"name"`
	Host       string   `json:"host"`
	Version    string   `json:"version"` // PostgreSQL major version, e.g. 15
	Cluster    string   `json:"cluster"` // Debian cluster name, e.g. main
	Store      string   `json:"store"`   // URL
	EnvDir     string   `json:"env_dir"` // store credentials
	Recipients []string `json:"recipients"`
	StateDir   string   `json:"state_dir"`
	Parallel   int      `json:"parallel"` // WAL files pushed or fetched at once
	// IdentityFile is set only in the configuration a restore writes for
	// its restore_command, in memory under /run, for the restore's length.
	IdentityFile string `json:"identity_file,omitempty"`
}

// Paths of a Debian PostgreSQL cluster.
func (c *Config) DataDir() string { return filepath.Join("/var/lib/postgresql", c.Version, c.Cluster) }
func (c *Config) ConfDir() string { return filepath.Join("/etc/postgresql", c.Version, c.Cluster) }
func (c *Config) BinDir() string  { return filepath.Join("/usr/lib/postgresql", c.Version, "bin") }
func (c *Config) Unit() string    { return "postgresql@" + c.Version + "-" + c.Cluster }

// ConfigDir is where hosts keep backup configurations.
const ConfigDir = "/etc/tend/pitr"

// StateRoot is where hosts keep backup state (pushed markers, status).
const StateRoot = "/var/lib/tend/pitr"

// LoadConfig reads a host's configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Store == "" || c.Version == "" || c.Cluster == "" {
		return nil, fmt.Errorf("%s: incomplete configuration (store, version and cluster are required)", path)
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	return &c, nil
}

// Env returns a getenv that sees the envdir's variables over the
// process's own environment.
func (c *Config) Env(extra map[string]string) (func(string) string, error) {
	env := os.Environ()
	if _, err := os.Stat(c.EnvDir); c.EnvDir != "" && (err == nil || extra == nil) {
		changes, err := envdir.Read(c.EnvDir)
		if err != nil {
			return nil, err
		}
		env = envdir.Apply(env, changes)
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }, nil
}

// Open opens the archive the configuration names. extra overrides the
// environment (credentials given by tend for one operation); identities
// are needed only to read.
func (c *Config) Open(ctx context.Context, extra map[string]string, ids []age.Identity) (*Archive, error) {
	getenv, err := c.Env(extra)
	if err != nil {
		return nil, err
	}
	st, err := storeurl.Open(ctx, c.Store, getenv)
	if err != nil {
		return nil, err
	}
	var rs []age.Recipient
	if len(c.Recipients) > 0 {
		rs, err = seal.ParseRecipients(strings.Join(c.Recipients, "\n"))
		if err != nil {
			return nil, err
		}
	}
	return &Archive{Store: st, Recipients: rs, Identities: ids}, nil
}

// OpenConfig reads the configuration file at path and opens its archive,
// with the identity of a restore's configuration when it names one.
func OpenConfig(ctx context.Context, path string) (*Config, *Archive, error) {
	c, err := LoadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	ids, err := c.Identities()
	if err != nil {
		return nil, nil, err
	}
	a, err := c.Open(ctx, nil, ids)
	if err != nil {
		return nil, nil, err
	}
	return c, a, nil
}
