package cert

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/resource"
	"tend/internal/resource/scheduled"
)

// Removal removes a certificate that left the spec: its renewal job
// (timer, job configuration, status), its configuration (with a dns-01
// zone's credentials), and the nginx
// server answering challenges when no other certificate is left. The
// certificate and its key stay (a server configuration may still name
// them: deleting them would make the next nginx reload fail), unless the
// spec says state: absent, which deletes the directory.
type Removal struct {
	Name string
}

func (r *Removal) lastOne() bool {
	confs, _ := filepath.Glob(filepath.Join(Root, "*", ConfigFile))
	for _, p := range confs {
		if filepath.Base(filepath.Dir(p)) != r.Name {
			return false
		}
	}
	return true
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	c, err := scheduled.NewCertRenewalRemoval(r.Name).CheckRemove(ctx, how)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = &resource.Change{Action: resource.Delete}
	}
	dir := Dir(r.Name)
	for _, f := range []string{ConfigFile, issuedFile, DNSFile} {
		if p := filepath.Join(dir, f); exists(p) {
			c.Add(f, p, "")
		}
	}
	if exists(Snippet) && r.lastOne() {
		c.Add("nginx acme server", Snippet, "")
	}
	if how.Explicit {
		for _, f := range []string{FullchainFile, KeyFile} {
			if p := filepath.Join(dir, f); exists(p) {
				c.Add(f, p, "")
			}
		}
	} else if exists(filepath.Join(dir, KeyFile)) {
		c.Reason = "the certificate and its key stay in " + dir + " (a server configuration may still use them); state: absent deletes them"
	}
	if len(c.Fields) == 0 {
		if c.Reason != "" {
			return resource.Kept(c.Reason), nil
		}
		return nil, nil
	}
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	jr := scheduled.NewCertRenewalRemoval(r.Name)
	if jc, err := jr.CheckRemove(ctx, how); err != nil {
		return err
	} else if jc != nil {
		if err := jr.Remove(ctx, jc, how); err != nil {
			return fmt.Errorf("renewal job: %w", err)
		}
	}
	dir := Dir(r.Name)
	for _, f := range []string{ConfigFile, issuedFile, DNSFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if exists(Snippet) && r.lastOne() {
		if err := os.Remove(Snippet); err != nil {
			return err
		}
		if active(ctx, "nginx") {
			if err := nginxTest(ctx); err != nil {
				return fmt.Errorf("after removing %s: %w", Snippet, err)
			}
			if _, err := resource.Command(ctx, "systemctl", "reload", "nginx"); err != nil {
				return err
			}
		}
	}
	if how.Explicit {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		return resource.SyncDir(Root)
	}
	return nil
}
