package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"tend/internal/hint"
	"tend/internal/snapkey"
)

func snapHostKeyCmd() *command {
	var out string
	return &command{
		name:    "host-key",
		args:    "NAME",
		summary: "derive the host key of host NAME from the write key",
		help: `Derives, from the write key (TEND_SNAPSHOT_KEY or TEND_SNAPSHOT_KEY_FILE), the
host key of the host NAME (a lower-case host name such as web1 or
web1.example.org) and prints it on stdout, or writes it to --out FILE
(created, mode 0600). A host holding its host key instead of the write key
creates snapshots in its own name only: it cannot sign one claiming another
host. Deliver it as the host's TEND_SNAPSHOT_KEY, e.g.
  tend snapshot host-key web1 | tend secret set prod vault_web1_snapshot_key
A file_backup resource needs none of this: the controller derives the host
key from the spec's key for the host it compiles.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "write the host key to `FILE` (created, mode 0600) instead of stdout")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "expected the host NAME"); err != nil {
				return err
			}
			return runSnapHostKey(s, args[0], out)
		},
	}
}

func runSnapHostKey(s *session, name, out string) error {
	w, ok, err := snapWriteKey(s, "host-key")
	if err != nil {
		return err
	}
	if !ok {
		return hint.New("no snapshot write key", snapKeyHint)
	}
	h, err := snapkey.ForHost(w, name)
	if err != nil {
		return err
	}
	text := h.Encode() + "\n"
	if out == "" {
		s.printf("%s", text)
		return nil
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return hint.Wrap(fmt.Errorf("host key: %s already exists", out), "choose another --out FILE, or remove it first")
	}
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("host key: write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("host key: write %s: %w", out, err)
	}
	s.logf("wrote the host key for %s to %s (mode 0600)", name, out)
	return nil
}
