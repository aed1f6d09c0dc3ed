package cli

import (
	"context"
	"io/fs"
	"strconv"
	"time"

	"tend/internal/snapshot"
)

func snapLsCmd() *command {
	var o snapOpts
	return &command{
		name:    "ls",
		args:    "SNAPSHOT [PATH]",
		summary: "list the files of a snapshot (needs the identity)",
		help:    `SNAPSHOT is an ID, a unique prefix of one (at least 4 hex digits), or "latest".`,
		flags:   o.flags,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 2, "SNAPSHOT [PATH]"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			_, entries, err := r.LsRef(ctx, args[0], argOr(args, 1, "/"))
			if err != nil {
				return err
			}
			for _, e := range entries {
				n := e.Node
				owner := n.User
				if owner == "" {
					owner = strconv.Itoa(int(n.UID))
				}
				group := n.Group
				if group == "" {
					group = strconv.Itoa(int(n.GID))
				}
				p := quotedPath(e.Path)
				if n.Type == snapshot.TypeSymlink {
					p += " -> " + n.Target
				}
				s.printf("%s %s/%s %10d %s %s\n", snapModeString(n), owner, group, n.Size, localTime(time.Unix(0, n.MTime)), p)
			}
			return nil
		},
	}
}

// quotedPath escapes what a terminal must not receive raw (newlines,
// control characters) the way Go quotes strings, without the quotes.
func quotedPath(p string) string {
	q := strconv.Quote(p)
	return q[1 : len(q)-1]
}

func snapModeString(n snapshot.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case snapshot.TypeDir:
		m |= fs.ModeDir
	case snapshot.TypeSymlink:
		m |= fs.ModeSymlink
	case snapshot.TypeDevice:
		m |= fs.ModeDevice
	case snapshot.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case snapshot.TypeFIFO:
		m |= fs.ModeNamedPipe
	}
	return m.String()
}
