package cli

import (
	"context"
	"flag"
)

func secretListCmd() *command {
	var repo string
	var asJSON bool
	return &command{
		name:    "list",
		args:    "ENV",
		summary: "list the secret names of an environment (never values)",
		help:    `Prints one name per line; --json adds the file and its recipients. Needs no key.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "ENV"); err != nil {
				return err
			}
			f, err := loadSecretFile(repo, args[0])
			if err != nil {
				return err
			}
			if !asJSON {
				for _, n := range f.Names() {
					s.printf("%s\n", n)
				}
				return nil
			}
			type rec struct {
				Key   string `json:"key"`
				Label string `json:"label,omitempty"`
			}
			out := struct {
				Environment string   `json:"environment"`
				File        string   `json:"file"`
				Recipients  []rec    `json:"recipients"`
				Secrets     []string `json:"secrets"`
			}{Environment: f.Env, File: f.Path, Recipients: []rec{}, Secrets: f.Names()}
			for _, r := range f.Recipients {
				out.Recipients = append(out.Recipients, rec{r.Key, r.Label})
			}
			return s.printJSON(out)
		},
	}
}
