// Package lab boots a lab of real Debian hosts on one Linux machine: each
// host is a systemd-nspawn machine with systemd as PID 1, its own network
// namespace and address on a private lab bridge, and sshd accepting the lab's
// key. Operators rehearse changes on it; tend's own tests run against it.
//
// Every lab gets one /24 out of 10.147.0.0/16 (lab N: 10.147.N.0/24, the
// machine is .1, hosts from .11). Those addresses exist only on the lab
// bridge and inside the namespaces the lab creates; hosts get no default
// route, so nothing is ever sent anywhere else.
//
// What a lab creates is recorded in its state file before it is created, so
// Down removes exactly that, also after tend crashed halfway through Up.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"tend/internal/hint"
)

// Addressing of labs: lab N uses 10.147.N.0/24.
const (
	subnetPrefix = "10.147."
	firstHostOct = 11
)

// BasePackages are always in a lab root: what a host needs to boot and be
// reached over SSH.
var BasePackages = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2"}

// DefaultPackages are added to the base by default: the services tend
// manages for its users, so that one cached root serves every test.
var DefaultPackages = []string{
	"nginx", "postgresql", "postfix", "dovecot-pop3d", "nftables", "rsync",
	"curl", "ca-certificates", "python3", "git", "cron", "sudo",
}

// DefaultRepoPackages are offered, not installed, by the hosts' local apt
// repository, so a package resource can be tested with no network; and
// stunnel4, the peer a tunnel interoperates with during a migration.
var DefaultRepoPackages = []string{"hello", "jq", "stunnel4"}

// Config says where a lab keeps its state and cache, and where progress goes.
type Config struct {
	StateDir string    // labs' state, one folder per lab (default /var/lib/tend/lab)
	CacheDir string    // cached root file systems (default /var/cache/tend/lab)
	Mirror   string    // Debian mirror for debootstrap; "" = the machine's apt source
	Log      io.Writer // progress lines; nil for none
}

// DefaultConfig returns the configuration from the environment:
// TEND_LAB_DIR, TEND_LAB_CACHE and TEND_LAB_MIRROR override the defaults.
func DefaultConfig(getenv func(string) string) Config {
	c := Config{StateDir: "/var/lib/tend/lab", CacheDir: "/var/cache/tend/lab", Mirror: getenv("TEND_LAB_MIRROR")}
	if d := getenv("TEND_LAB_DIR"); d != "" {
		c.StateDir = d
	}
	if d := getenv("TEND_LAB_CACHE"); d != "" {
		c.CacheDir = d
	}
	return c
}

func (c Config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", a...)
	}
}

// State is what a lab created; it is saved before each thing is created.
type State struct {
	Name   string  `json:"name"`
	Index  int     `json:"index"`  // N of 10.147.N.0/24
	Bridge string  `json:"bridge"` // the bridge on the machine
	Hosts  []*Host `json:"hosts"`
}

// Host is one lab host.
type Host struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`     // its address on the lab bridge
	Veth    string `json:"veth"`     // the machine's end of its link
	Netns   string `json:"netns"`    // its network namespace (ip netns)
	Dir     string `json:"dir"`      // its folder: upper, work, merged, console.log
	Root    string `json:"root"`     // the cached root it boots from
	PID     int    `json:"pid"`      // the systemd-nspawn process
	Start   uint64 `json:"start"`    // that process's start time, against PID reuse
	HostKey string `json:"host_key"` // its SSH host key, authorized_keys format
}

// Subnet returns the lab's network in CIDR notation.
func (s *State) Subnet() string { return fmt.Sprintf("%s%d.0/24", subnetPrefix, s.Index) }

// Gateway returns the machine's own address on the lab bridge.
func (s *State) Gateway() string { return fmt.Sprintf("%s%d.1", subnetPrefix, s.Index) }

// Host returns the host called name, or nil.
func (s *State) Host(name string) *Host {
	for _, h := range s.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Merged is the host's root file system as the host sees it.
func (h *Host) Merged() string { return filepath.Join(h.Dir, "merged") }

var (
	labNameRE  = regexp.MustCompile(`^[a-z][a-z0-9]{0,10}$`)
	hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$`)
)

// CheckName checks a lab name: it becomes part of network interface names.
func CheckName(name string) error {
	if !labNameRE.MatchString(name) {
		return hint.New(fmt.Sprintf("invalid lab name %q", name), "a lab name is 1 to 11 lowercase letters and digits, starting with a letter")
	}
	return nil
}

// CheckHostName checks a lab host name: it is the host's hostname.
func CheckHostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return hint.New(fmt.Sprintf("invalid host name %q", name), "a host name is 1 to 32 lowercase letters, digits and dashes, starting with a letter")
	}
	return nil
}

func (c Config) labDir(name string) string    { return filepath.Join(c.StateDir, name) }
func (c Config) statePath(name string) string { return filepath.Join(c.labDir(name), "state.json") }

// KeyPath is the lab's private SSH key, accepted by every host as root.
func (c Config) KeyPath(name string) string { return filepath.Join(c.labDir(name), "id_ed25519") }

// KnownHostsPath is an OpenSSH known_hosts file pinning every host's key.
func (c Config) KnownHostsPath(name string) string {
	return filepath.Join(c.labDir(name), "known_hosts")
}

// ErrNoLab is returned for a lab that is not up.
var ErrNoLab = errors.New("lab is not up")

// Load returns the saved state of lab name, or an error wrapping ErrNoLab.
func Load(c Config, name string) (*State, error) {
	b, err := os.ReadFile(c.statePath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.Wrap(fmt.Errorf("lab %s: %w", name, ErrNoLab), "start it with: tend lab up --lab "+name)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: read state: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, hint.Wrap(fmt.Errorf("lab %s: state file %s: %w", name, c.statePath(name), err),
			"the state file is damaged; remove what the lab created by hand (ip link, ip netns, mounts) and the folder")
	}
	return &s, nil
}

// save writes the state atomically: a crash leaves the old or the new state.
func (c Config) save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.statePath(s.Name), append(b, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old or the new content, never part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// lockFile takes an exclusive lock on path, waiting for at most wait.
func lockFile(path string, wait time.Duration) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, hint.Wrap(fmt.Errorf("lock %s: %w", path, err), "another tend process is using it; wait for it to finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
