// Resource kinds of one family: deployments: releases of a git repository.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"strings"
)

// The kinds of this family.
const (
	KindGit Kind = "git"
)

// Git deploys a revision of a repository into releases under the
// directory Name (NAME/releases/REVISION), points the symlink NAME/CURRENT
// at it and keeps the Keep newest releases.
type Git struct {
	Repo     string `yaml:"repo" json:"repo"`
	Revision string `yaml:"revision" json:"revision"`
	Keep     int    `yaml:"keep" json:"keep"`       // default 5
	Current  string `yaml:"current" json:"current"` // symlink name, default "current"
	User     string `yaml:"user" json:"user"`       // owner of the checkout, default root
	// AllowAnyURL lets Repo use any transport git knows, not only https,
	// ssh and file (git://, http://, a remote helper...).
	AllowAnyURL bool `yaml:"allow_any_url" json:"allow_any_url"`
}

func (*Git) Kind() Kind { return KindGit }

// holdsData: removing a checkout may lose its local changes (delete_data).
func (*Git) holdsData() {}

func (s *Git) defaults() {
	or(&s.Current, "current")
	or(&s.User, "root")
	if s.Keep == 0 {
		s.Keep = 5
	}
}

func (s *Git) check(c *checker) {
	c.absPath("", c.r.Name)
	if c.required("repo", s.Repo) && c.line("repo", s.Repo) && c.lit(s.Repo) && !s.AllowAnyURL {
		if err := parseGitURL(s.Repo); err != nil {
			c.errf("repo", "repo %q: %v; set allow_any_url: true to use another transport", s.Repo, err)
		}
	}
	if c.required("revision", s.Revision) {
		c.line("revision", s.Revision)
	}
	if s.Keep < 0 || s.Keep > 1000 {
		c.errf("keep", "keep %d is out of range 1-1000", s.Keep)
	} else if c.has("keep") && s.Keep == 0 {
		c.errf("keep", "keep must be at least 1 (the current release)")
	}
	if c.line("current", s.Current) && c.lit(s.Current) && s.Current != "" && strings.ContainsAny(s.Current, "/") {
		c.errf("current", "current %q must be a plain name inside the directory", s.Current)
	}
	if c.line("user", s.User) {
		c.account("user", s.User)
	}
}
