package cli

import (
	"context"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time with
// -ldflags "-X tend/internal/cli.version=... -X tend/internal/cli.commit=...".
var (
	version = "dev"
	commit  = ""
)

// Version returns tend's version and the commit it was built from.
func Version() (v, c string) {
	c = commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	return version, c
}

func versionCmd() *command {
	return &command{
		name:    "version",
		summary: "print tend's version and the commit it was built from",
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			v, c := Version()
			s.printf("tend %s commit %s %s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
