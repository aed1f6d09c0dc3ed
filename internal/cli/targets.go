package cli

import (
	"context"
	"errors"

	"tend/internal/inventory"
	"tend/internal/plan"
	"tend/internal/spec"
)

// inventoryOptions are the hosts f selects in env, and how to reach them.
func (f *runFlags) inventoryOptions(s *session, env string) inventory.Options {
	o := inventory.Options{Env: env, Limit: splitList(f.limit), Lab: f.lab, Identity: f.identity, Getenv: s.getenv}
	if f.saved != nil && f.limit == "" {
		o.Only = f.saved.HostNames() // a plan's hosts; with --limit, Bind checks they are the same
	}
	return o
}

// prepare compiles the desired state of the hosts f selects in env (see
// plan.Prepare); with a saved plan (apply --plan), of the plan's hosts,
// each bound to the changes the plan lists.
func prepare(ctx context.Context, s *session, env string, f runFlags) ([]plan.Target, *plan.DNS, error) {
	targets, d, err := plan.PrepareRun(plan.PrepareOptions{Repo: f.repo, Options: f.inventoryOptions(s, env), Only: splitList(f.only), Skip: splitList(f.skip), Saved: f.saved != nil})
	if err != nil {
		return nil, nil, exitCodeOf(err)
	}
	if f.saved != nil {
		if err := f.saved.Bind(targets); err != nil {
			return nil, nil, err
		}
	}
	return targets, d, nil
}

// reach selects the hosts f names in env and says how to reach them,
// without decrypting any secret.
func reach(s *session, env string, f runFlags) (*spec.Repo, []inventory.Host, error) {
	repo, err := spec.Load(f.repo)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	hosts, err := inventory.Reach(repo, f.inventoryOptions(s, env))
	if err != nil {
		return nil, nil, exitCodeOf(err)
	}
	return repo, hosts, nil
}

// exitCodeOf gives a mistake in the command line or the repository its
// exit code (2).
func exitCodeOf(err error) error {
	var inv *inventory.InvalidError
	if errors.As(err, &inv) {
		return &exitError{code: ExitUsage, err: inv.Err}
	}
	return err
}
