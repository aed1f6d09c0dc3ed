package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"tend/internal/docs"
	"tend/internal/hint"
	"tend/internal/spec"
)

func docsCmd() *command {
	var (
		repo, out string
		check     bool
	)
	return &command{
		name:    "docs",
		args:    "[ENV...]",
		summary: "write the infrastructure's documentation from the spec",
		help: `docs writes the description of an environment as Markdown, for a git
forge: hosts, what runs on each, web routes, firewall flows, tunnels,
backups, the names of secrets (never their values) and a Mermaid diagram
of hosts and flows. It compiles the hosts as tend validate does, without
secrets and without contacting them. The same spec gives the same bytes.

Without --out it prints the page of ENV. With --out DIR it writes DIR/ENV.md
for each ENV given, or for every environment. With --check it writes
nothing and exits 1 when a page in DIR differs from the spec, naming it,
for CI.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&repo, "repo", ".", "the infrastructure repository `DIR`")
			fs.StringVar(&out, "out", "", "write ENV.md files into `DIR`")
			fs.BoolVar(&check, "check", false, "compare with the files in --out DIR instead of writing; exit 1 when they differ")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if out == "" && (check || len(args) != 1) {
				return &usageError{msg: "expected one ENV to print, or --out DIR (with --check, the directory to compare)"}
			}
			r, err := spec.Load(repo)
			if err != nil {
				return specError(err)
			}
			for _, env := range args {
				if r.Environments[env] == nil {
					return &usageError{msg: fmt.Sprintf("unknown environment %q (environments: %s)", env, strings.Join(r.EnvironmentNames(), ", "))}
				}
			}
			files, err := docs.Generate(r, args)
			if err != nil {
				var l spec.ErrorList
				if errors.As(err, &l) {
					return specError(err)
				}
				return err
			}
			switch {
			case out == "":
				_, err := s.stdout.Write(files[0].Data)
				return err
			case check:
				stale, err := docs.Check(out, files, len(args) == 0)
				if err != nil {
					return err
				}
				if len(stale) == 0 {
					s.printf("ok: %d pages in %s match the spec\n", len(files), out)
					return nil
				}
				var lines []string
				gone := false
				for _, st := range stale {
					lines = append(lines, fmt.Sprintf("%s/%s: %s", strings.TrimSuffix(out, "/"), st.Path, st.Why))
					gone = gone || strings.HasPrefix(st.Why, "no environment")
				}
				h := "regenerate it with: tend docs " + strings.Join(append(args, "--repo", repo, "--out", out), " ")
				if gone {
					h += ", and delete the pages of environments that are gone"
				}
				return &exitError{code: ExitFailure, err: hint.Wrap(
					fmt.Errorf("the documentation is out of date with the spec:\n%s", strings.Join(lines, "\n")), h)}
			}
			if err := docs.Write(out, files); err != nil {
				return err
			}
			for _, f := range files {
				s.logf("wrote %s/%s", strings.TrimSuffix(out, "/"), f.Path)
			}
			return nil
		},
	}
}
