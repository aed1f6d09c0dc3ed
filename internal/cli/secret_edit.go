package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"tend/internal/hint"
	"tend/internal/secret"
)

// ramDir is where `secret edit` puts the decrypted view: RAM, never disk.
// Tests point it elsewhere to exercise the refusal.
var ramDir = "/dev/shm"

func secretEditCmd() *command {
	var repo string
	var allowDisk bool
	return &command{
		name:    "edit",
		args:    "ENV",
		summary: "edit an environment's secrets in $EDITOR",
		help: `Decrypts every value into a temporary view in /dev/shm (RAM, mode 0600), opens
$VISUAL or $EDITOR (default vi) on it, and encrypts again only the values
that changed; unchanged lines of the secret file stay byte-identical. The
view is deleted afterwards, also on error. Without /dev/shm tend refuses
unless --allow-disk (then the view is in the temporary directory, on disk).
If the edited view has an error, the secret file is left untouched.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.BoolVar(&allowDisk, "allow-disk", false, "allow the decrypted view on disk when /dev/shm is missing")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			f, ids, err := openSecretFile(s, repo, args[0])
			if err != nil {
				return err
			}
			res, err := secret.Edit(f, ids, secret.EditOptions{
				RAMDir:    ramDir,
				AllowDisk: allowDisk,
				Editor:    func(path string) error { return runEditor(ctx, s, path) },
			})
			switch {
			case err != nil:
				return err
			case res.EmptyView:
				s.logf("%s: the view holds no secret; nothing changed (use 'tend secret rm' to remove secrets)", f.Path)
			default:
				s.logf("%s: %s", f.Path, res.Changes)
			}
			return nil
		},
	}
}

// runEditor runs the user's editor on path through sh, so that EDITOR may
// hold arguments ("code --wait"). The path is its only argument; the age key
// is removed from its environment.
func runEditor(ctx context.Context, s *session, path string) error {
	editor := s.getenv("VISUAL")
	if editor == "" {
		editor = s.getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$@"`, "editor", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, s.stdout, s.stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, secret.EnvKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Run(); err != nil {
		return hint.Wrap(fmt.Errorf("editor %q failed: %v; nothing changed", editor, err),
			"set EDITOR to an editor that exits with status 0 when you save")
	}
	return nil
}
