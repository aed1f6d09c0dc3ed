package cli

import "context"

func snapDiffCmd() *command {
	var o snapOpts
	return &command{
		name:    "diff",
		args:    "A B",
		summary: "list paths added (+), removed (-) or modified (M) from snapshot A to B",
		flags:   o.flags,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "A B"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			changes, err := r.DiffRefs(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			sign := map[string]string{"added": "+", "removed": "-", "modified": "M"}
			for _, c := range changes {
				s.printf("%s %s\n", sign[c.What], quotedPath(c.Path))
			}
			return nil
		},
	}
}
