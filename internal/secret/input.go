package secret

import (
	"fmt"
	"io"
	"os"
	"strings"

	"tend/internal/hint"
)

// MaxInput bounds a value or password read from stdin.
const MaxInput = 1 << 20

// ReadInput reads what (a value, a password) from r, refusing a terminal,
// where it would be echoed on screen. A single line loses its trailing
// newline; multi-line input is kept as it is.
func ReadInput(r io.Reader, what string) (string, error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return "", hint.New("refusing to read "+what+" from a terminal: it would be echoed on screen",
				"pipe it in (tend ... < FILE, or from a password manager), or use 'tend secret edit'")
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if len(data) > MaxInput {
		return "", fmt.Errorf("%s on stdin is larger than %d bytes", what, MaxInput)
	}
	v := string(data)
	clear(data)
	if i := strings.IndexByte(v, '\n'); i >= 0 && i == len(v)-1 {
		v = strings.TrimSuffix(v[:i], "\r")
	}
	return v, nil
}
