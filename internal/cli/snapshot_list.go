package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
)

func snapListCmd() *command {
	var o snapOpts
	var asJSON bool
	return &command{
		name:    "list",
		summary: "list snapshots, oldest first",
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.BoolVar(&asJSON, "json", false, "print the list as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, false, false)
			if err != nil {
				return err
			}
			l, err := r.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]snapJSONOut, 0, len(l.Snapshots))
				for _, sn := range l.Snapshots {
					out = append(out, snapJSON(sn))
				}
				return s.printJSON(out)
			}
			tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tHOST\tPATHS\tTAGS\tSIZE")
			for _, sn := range l.Snapshots {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID.Short(), localTime(sn.Time), sn.Host,
					strings.Join(sn.Paths, ","), strings.Join(sn.Tags, ","), formatSize(sn.Summary.Bytes))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			switch d := l.LastDrill; {
			case d == nil:
				s.printf("last restore drill: never (tend snapshot drill)\n")
			case d.OK:
				s.printf("last restore drill: %s, snapshot %s, passed (%d files)\n", localTime(d.Time), d.Snapshot[:8], d.Files)
			default:
				s.printf("last restore drill: %s, snapshot %s, FAILED: %s\n", localTime(d.Time), d.Snapshot[:8], d.Error)
			}
			return nil
		},
	}
}
