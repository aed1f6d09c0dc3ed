package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"tend/internal/atomicfile"
	"tend/internal/dns"
	"tend/internal/hint"
	"tend/internal/wire"
)

// savedVersion is the version of the saved-plan format. Version 1 held
// fingerprints the agent could not check; such plans are refused.
const savedVersion = 2

// Saved is what tend plan --out writes and tend apply --plan executes:
// per host, the fingerprint of every change the plan showed. Applying it
// sends these to the agent (wire.Desired.Expect), which makes a change
// only when it is one of them, the same: a host or repository that
// changed since is refused at the first change the plan did not show.
// It holds no secret: sensitive changes are redacted on the host before
// they are shown or fingerprinted.
type Saved struct {
	Version int                  `json:"version"`
	Env     string               `json:"env"`
	Hosts   map[string]SavedHost `json:"hosts"`
	// Results are what the plan showed, for people and tools; applying
	// reads only Hosts.
	Results []Result `json:"results"`
	// DNS are the record changes the plan showed, per zone: apply makes
	// them only when the zones still need exactly these (CheckDNS).
	DNS []*dns.Plan `json:"dns,omitempty"`

	path string
}

// SavedHost is the plan of one host.
type SavedHost struct {
	Expect map[string]string `json:"expect"`           // resource id -> wire.Fingerprint of its change
	Failed string            `json:"failed,omitempty"` // the plan failed on this host
}

// NewSaved makes the saved plan of a plan run on env.
func NewSaved(env string, rs []Result) *Saved {
	p := &Saved{Version: savedVersion, Env: env, Hosts: map[string]SavedHost{}, Results: rs}
	for _, r := range rs {
		h := SavedHost{Expect: map[string]string{}}
		for _, e := range r.Events {
			if e.Type == wire.EventResource && e.Change != nil {
				h.Expect[e.ID] = wire.Fingerprint(e.ID, e.Removal, e.Change)
			}
		}
		if r.Err != nil {
			h.Failed = r.Err.Error()
		}
		p.Hosts[r.Host] = h
	}
	return p
}

// Write saves the plan at path, atomically: a plan is there whole or not
// at all.
func (p *Saved) Write(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save the plan: %w", err)
	}
	return nil
}

// ReadSaved reads the plan saved at path, which must be a plan of env.
func ReadSaved(path, env string) (*Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Saved
	if err := json.Unmarshal(b, &p); err != nil || p.Version != savedVersion || p.Hosts == nil {
		return nil, hint.New(fmt.Sprintf("%s: not a plan saved by this version of tend plan --out", path),
			"make it again: tend plan "+env+" --out "+path)
	}
	if p.Env != env {
		return nil, fmt.Errorf("%s is a plan for %s, not %s", path, p.Env, env)
	}
	p.path = path
	return &p, nil
}

// HostNames are the hosts the plan covers, sorted.
func (p *Saved) HostNames() []string { return slices.Sorted(maps.Keys(p.Hosts)) }

// Bind makes targets apply this plan and nothing else: each target's
// desired state carries the changes the plan expects of its host. The
// targets must be the plan's hosts, and the plan must not have failed on
// any; otherwise the plan is stale.
func (p *Saved) Bind(targets []Target) error {
	var diffs []string
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t.Name] = true
		h, ok := p.Hosts[t.Name]
		switch {
		case !ok:
			diffs = append(diffs, "host "+t.Name+" was not in the plan")
		case h.Failed != "":
			diffs = append(diffs, "host "+t.Name+" failed when the plan was made")
		default:
			t.Desired.Expect = maps.Clone(h.Expect)
			if t.Desired.Expect == nil {
				t.Desired.Expect = map[string]string{} // no change expected: any is stale
			}
		}
	}
	for name := range p.Hosts {
		if !seen[name] {
			diffs = append(diffs, "host "+name+" is no longer part of the run")
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return hint.Wrap(fmt.Errorf("the saved plan %s is stale: %w", p.path, errors.New(strings.Join(diffs, "; "))),
			"the hosts or the repository changed since it was made: run tend plan again")
	}
	return nil
}

// CheckDNS refuses, as stale, zones whose changes now are not the ones
// the plan showed (a record changed at the provider or in the spec since).
func (p *Saved) CheckDNS(now []*dns.Plan) error {
	saved := map[string]string{}
	for _, z := range p.DNS {
		if len(z.Changes) > 0 {
			b, _ := json.Marshal(z.Changes)
			saved[z.Zone] = string(b)
		}
	}
	var stale []string
	for _, z := range now {
		b, _ := json.Marshal(z.Changes)
		if len(z.Changes) == 0 {
			b = nil
		}
		if saved[z.Zone] != string(b) {
			stale = append(stale, z.Zone)
		}
		delete(saved, z.Zone)
	}
	stale = append(stale, slices.Sorted(maps.Keys(saved))...)
	if len(stale) == 0 {
		return nil
	}
	return hint.New(fmt.Sprintf("%s: the saved plan is stale: the records of dns zone %s need other changes than it shows; nothing was changed", p.path, strings.Join(stale, ", ")),
		fmt.Sprintf("make the plan again: tend plan %s --out %s", p.Env, p.path))
}
