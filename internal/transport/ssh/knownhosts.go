package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHosts are pinned host keys, in OpenSSH known_hosts format, so the
// same file works with ssh -o UserKnownHostsFile=.
type KnownHosts struct {
	Path  string
	lines []string
	keys  map[string]ssh.PublicKey // by normalised address
}

// LoadKnownHosts reads a known_hosts file; a missing file is empty.
func LoadKnownHosts(path string) (*KnownHosts, error) {
	k := &KnownHosts{Path: path, keys: map[string]ssh.PublicKey{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		k.lines = append(k.lines, line)
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		for _, h := range hosts {
			k.keys[h] = key
		}
	}
	return k, nil
}

// Lookup returns the key pinned for host:port, or nil.
func (k *KnownHosts) Lookup(host string, port int) ssh.PublicKey {
	return k.keys[knownhosts.Normalize(fmt.Sprintf("%s:%d", host, port))]
}

// Set pins key for host:port with a comment, replacing an older pin.
func (k *KnownHosts) Set(host string, port int, key ssh.PublicKey, comment string) {
	addr := knownhosts.Normalize(fmt.Sprintf("%s:%d", host, port))
	var kept []string
	for _, l := range k.lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == addr {
			continue
		}
		kept = append(kept, l)
	}
	k.lines = append(kept, knownhosts.Line([]string{addr}, key)+" "+comment)
	k.keys[addr] = key
}

// Save writes the file atomically.
func (k *KnownHosts) Save() error {
	var b bytes.Buffer
	for _, l := range k.lines {
		b.WriteString(l + "\n")
	}
	tmp := k.Path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, k.Path)
}
