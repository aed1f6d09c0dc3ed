package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tend/internal/hint"
	"tend/internal/wire"
)

// lock takes the host's lock for a run: exclusive for apply, shared for
// plan, so that plans run side by side but never beside an apply, and two
// applies never interleave. It does not wait: a host that is busy is
// refused at once with who holds it, and the controller says so. The lock
// is the kernel's (flock), so it dies with the process that held it: a
// killed apply leaves no stale lock.
func lock(stateDir string, mode wire.Mode) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: lock: %w", err)
	}
	how := syscall.LOCK_SH
	if mode == wire.Apply {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if holder == "" {
				holder = "a tend plan"
			}
			return nil, hint.New(fmt.Sprintf("the host is busy: %s holds its lock (%s)", holder, path),
				"wait for that run to finish, then run again; two runs on one host never interleave")
		}
		return nil, fmt.Errorf("agent: lock %s: %w", path, err)
	}
	if mode == wire.Apply {
		who := fmt.Sprintf("tend apply, pid %d, since %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
		if c := os.Getenv("SSH_CLIENT"); c != "" {
			who += ", from " + strings.Fields(c)[0]
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(who+"\n"), 0)
	}
	return func() {
		if mode == wire.Apply {
			_ = f.Truncate(0)
		}
		f.Close()
	}, nil
}
