// Package site implements the site resource: one nginx site rendered
// into its own file, /etc/nginx/sites-enabled/tend-NAME.conf (files tend
// does not manage are left alone), and made live safely: the whole
// configuration passes nginx -t, nginx reloads, and a loopback
// generation server (/etc/nginx/conf.d/tend-generation.conf) proves the
// new files are the ones running, or the previous ones are put back and
// the apply fails with nginx's message. The site never stops serving
// because of a bad change.
package site

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Site is one nginx site with its rendered configuration.
type Site struct {
	Name   string
	Config string // the file's content
	Nginx  Nginx
	cache  bool // the site caches what it fetches: its cache folder must exist
}

// New renders site name from its spec.
func New(name string, s *spec.Site) (*Site, error) {
	s.Defaults()
	conf, err := Render(name, s)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", name, err)
	}
	return &Site{Name: name, Config: conf, Nginx: Default, cache: strings.Contains(conf, "\nproxy_cache_path ")}, nil
}

// Check implements resource.Resource: the file's diff, or a reload when
// the file is right but nginx runs something else (nginx stopped, or a
// change made by hand was never loaded).
func (s *Site) Check(ctx context.Context) (*resource.Change, error) {
	path := s.Nginx.Path(s.Name)
	have, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c := &resource.Change{Action: resource.Create, Diff: resource.Diff(path, "", s.Config)}
		if !Installed() {
			c.Reason = "nginx is not installed yet"
		}
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("site %s: %w", s.Name, err)
	}
	if string(have) != s.Config {
		return &resource.Change{Action: resource.Update, Diff: resource.Diff(path, string(have), s.Config)}, nil
	}
	if !Installed() {
		return nil, nil
	}
	ok, err := s.Nginx.InSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", s.Name, err)
	}
	if !ok {
		c := &resource.Change{Action: resource.Update, Reason: "nginx does not run the site files on disk: reload"}
		c.Add("nginx", "not running these files", "running them")
		return c, nil
	}
	return nil, nil
}

// Apply implements resource.Resource.
func (s *Site) Apply(ctx context.Context, _ *resource.Change) error {
	if s.cache {
		// nginx creates the cache folder, for its workers' user, but not
		// its parent (Debian's nginx has no /var/cache/nginx).
		if err := os.MkdirAll(CacheDir, 0o755); err != nil {
			return fmt.Errorf("site %s: %w", s.Name, err)
		}
	}
	if err := s.Nginx.Change(ctx, map[string][]byte{s.Nginx.Path(s.Name): []byte(s.Config)}); err != nil {
		return fmt.Errorf("site %s: %w", s.Name, err)
	}
	return nil
}

// Removal removes site name: its file goes (tend's by its name, whoever
// made it), nginx reloads safely, and its cache goes.
type Removal struct {
	Name  string
	Nginx Nginx
}

// NewRemoval makes the removal of site name.
func NewRemoval(name string) *Removal { return &Removal{Name: name, Nginx: Default} }

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	path := r.Nginx.Path(r.Name)
	have, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("site %s: %w", r.Name, err)
	}
	return &resource.Change{Action: resource.Delete, Diff: resource.Diff(path, string(have), "")}, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, _ *resource.Change, how resource.Removal) error {
	if !Installed() { // nothing runs the file: it only goes
		if err := os.Remove(r.Nginx.Path(r.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("site %s: %w", r.Name, err)
		}
		return nil
	}
	if err := r.Nginx.Change(ctx, map[string][]byte{r.Nginx.Path(r.Name): nil}); err != nil {
		return fmt.Errorf("site %s: %w", r.Name, err)
	}
	if err := os.RemoveAll(CacheDir + "/tend-" + r.Name); err != nil {
		return fmt.Errorf("site %s: remove its cache: %w", r.Name, err)
	}
	return nil
}
