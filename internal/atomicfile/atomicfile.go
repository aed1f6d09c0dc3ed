// Package atomicfile writes files so that readers see the old content or
// the new, never a part: a temporary file in the same directory, synced,
// given its mode, then renamed over the target. The file belongs to the
// running user (internal/resource.WriteFile also sets owners, as root).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with mode perm.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tend-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
