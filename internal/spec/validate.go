package spec

import "errors"

// Stats counts what a repository declares.
type Stats struct {
	Environments, Hosts, Resources int
}

// Validate loads the repository at dir and compiles every host of every
// environment without secrets (each secret variable holds
// SecretPlaceholder), so that every template is rendered once per host. It
// returns every problem as one ErrorList.
func Validate(dir string) (*Repo, Stats, error) {
	var st Stats
	r, err := Load(dir)
	if err != nil {
		return nil, st, err
	}
	var all ErrorList
	for _, env := range r.EnvironmentNames() {
		st.Environments++
		var compiled []*Host
		for _, h := range r.Environments[env].Hosts {
			st.Hosts++
			c, err := r.Compile(env, h.Name, nil)
			if err != nil {
				var l ErrorList
				if !errors.As(err, &l) {
					return nil, st, err
				}
				all = append(all, l...)
				continue
			}
			st.Resources += len(c.Resources)
			compiled = append(compiled, c)
		}
		// The records derived from hosts and sites, checked against the
		// declared ones (once every host compiled).
		if len(compiled) == len(r.Environments[env].Hosts) {
			if _, err := r.DNS(env, compiled); err != nil {
				var l ErrorList
				if !errors.As(err, &l) {
					return nil, st, err
				}
				all = append(all, l...)
			}
		}
	}
	if err := all.err(); err != nil {
		return nil, st, err
	}
	return r, st, nil
}
