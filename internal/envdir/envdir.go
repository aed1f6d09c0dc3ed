// Package envdir reads an environment directory with the semantics of
// daemontools' envdir: one file per variable, named after it.
//
// For each file s in the directory whose name does not start with ".":
//   - if s is empty (0 bytes), variable s is removed from the environment;
//   - otherwise its value is the first line of s (up to the first newline,
//     or the whole file), with trailing spaces and tabs removed and NUL
//     bytes turned into newlines. A file holding only "\n" sets s to "".
//
// Names containing "=" are refused (daemontools documents them as invalid
// and builds a garbled variable from them). Subdirectories and unreadable
// files are errors, as in daemontools, where envdir exits 111 on them.
// Dot files are ignored, as daemontools does, so editors' and tools'
// temporary files (".s.swp", ".tmp-") never leak into the environment.
package envdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Change is one variable set or removed by the directory.
type Change struct {
	Name  string
	Value string
	Unset bool // the file was empty: remove Name
}

// Value turns a file's content into a variable's value as envdir does;
// unset reports an empty file, which removes the variable.
func Value(content []byte) (value string, unset bool) {
	if len(content) == 0 {
		return "", true
	}
	if i := bytes.IndexByte(content, '\n'); i >= 0 {
		content = content[:i]
	}
	content = bytes.TrimRight(content, " \t")
	return string(bytes.ReplaceAll(content, []byte{0}, []byte{'\n'})), false
}

// ValidName checks that a file name can be a variable name.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("empty variable name")
	case strings.Contains(name, "="):
		return fmt.Errorf("variable name %q contains '='", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("variable name %q contains a NUL byte", name)
	}
	return nil
}

// MaxFileSize bounds what is read of one file; an environment value
// larger than this is certainly a mistake (and would overflow ARG_MAX).
const MaxFileSize = 1 << 20

// Read reads the directory and returns its changes sorted by name.
func Read(dir string) ([]Change, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("envdir %s: %w", dir, unwrapPath(err))
	}
	var changes []Change
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("envdir %s: %w", dir, err)
		}
		content, err := readFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("envdir %s: %s: %w", dir, name, err)
		}
		v, unset := Value(content)
		changes = append(changes, Change{Name: name, Value: v, Unset: unset})
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Name, b.Name) })
	return changes, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory, not a variable file")
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, unwrapPath(err)
	}
	return buf.Bytes(), nil
}

// unwrapPath drops the path an os error repeats; messages name it already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Apply returns env ("NAME=value" entries, as from os.Environ) with the
// changes made: every entry of a changed name removed, then the set ones
// appended in order. env itself is not modified.
func Apply(env []string, changes []Change) []string {
	changed := make(map[string]bool, len(changes))
	for _, c := range changes {
		changed[c.Name] = true
	}
	out := make([]string, 0, len(env)+len(changes))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !changed[name] {
			out = append(out, kv)
		}
	}
	for _, c := range changes {
		if !c.Unset {
			out = append(out, c.Name+"="+c.Value)
		}
	}
	return out
}
