package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	"tend/internal/resource"
	"tend/internal/resource/file"
	"tend/internal/spec"
	"tend/internal/wire"
)

// kind is what this agent knows of one resource kind: how to build it
// from its spec, and how to remove it (nil: tend leaves it on the host
// when it leaves the spec, and says so).
type kind struct {
	build  func(name string, raw json.RawMessage) (resource.Resource, error)
	remove func(name string, raw json.RawMessage) (resource.Remover, error)
}

// registry lists every kind this agent implements. It is built here, in one
// function, from one list per family of kinds (one file each).
func registry() map[spec.Kind]kind {
	m := map[spec.Kind]kind{}
	for _, part := range []map[spec.Kind]kind{
		pathKinds(), systemKinds(), accountKinds(), deployKinds(), postgresKinds(),
		firewallKinds(),
		webKinds(),
		certKinds(),
		tunnelKinds(),
		editKinds(),
	} {
		maps.Copy(m, part)
	}
	return m
}

// Decode decodes a spec's JSON strictly into v.
func Decode(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}
	return nil
}

// with adapts a constructor taking a typed spec.
func with[S any](f func(name string, s *S) (resource.Resource, error)) func(string, json.RawMessage) (resource.Resource, error) {
	return func(name string, raw json.RawMessage) (resource.Resource, error) {
		s := new(S)
		if err := Decode(raw, s); err != nil {
			return nil, err
		}
		return f(name, s)
	}
}

// removeWith adapts a removal constructor taking a typed spec. The spec
// may be partial: a resource that says state: absent needs only its name.
func removeWith[S any](f func(name string, s *S) (resource.Remover, error)) func(string, json.RawMessage) (resource.Remover, error) {
	return func(name string, raw json.RawMessage) (resource.Remover, error) {
		s := new(S)
		if len(raw) > 0 && string(raw) != "null" {
			if err := Decode(raw, s); err != nil {
				return nil, err
			}
		}
		return f(name, s)
	}
}

// build makes the resource of an item; a kind the spec knows but this agent
// does not is an error.
func build(it wire.Item) (resource.Resource, error) {
	k, ok := registry()[spec.Kind(it.Kind)]
	if !ok {
		return nil, fmt.Errorf("resource kind %q is not implemented yet by this tend version", it.Kind)
	}
	r, err := k.build(it.Name, it.Spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", it.Kind, err)
	}
	return r, nil
}

// buildRemover makes the remover of a recorded resource, or nil for a
// kind that is left on the host.
func buildRemover(e *Entry) (resource.Remover, error) {
	k, ok := registry()[spec.Kind(e.Kind)]
	if !ok {
		return nil, fmt.Errorf("resource kind %q is not implemented by this tend version", e.Kind)
	}
	if k.remove == nil {
		return nil, nil
	}
	r, err := k.remove(e.Name, e.Spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Kind, err)
	}
	return r, nil
}

// pathKind reports whether kind is one of the path kinds, which claim
// their name (a path) whatever the kind.
func pathKind(k string) bool {
	switch spec.Kind(k) {
	case spec.KindFile, spec.KindDirectory, spec.KindSymlink, spec.KindAbsent:
		return true
	}
	return false
}

func pathRemoval(k spec.Kind) func(string, json.RawMessage) (resource.Remover, error) {
	return func(name string, _ json.RawMessage) (resource.Remover, error) {
		return &file.Removal{Kind: string(k), Path: name}, nil
	}
}

func pathKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindFile: {
			build:  with(func(n string, s *spec.File) (resource.Resource, error) { return file.NewFile(n, s) }),
			remove: pathRemoval(spec.KindFile),
		},
		spec.KindDirectory: {
			build:  with(func(n string, s *spec.Directory) (resource.Resource, error) { return file.NewDirectory(n, s) }),
			remove: pathRemoval(spec.KindDirectory),
		},
		spec.KindSymlink: {
			build: with(func(n string, s *spec.Symlink) (resource.Resource, error) {
				return &file.Symlink{Path: n, Target: s.Target}, nil
			}),
			remove: pathRemoval(spec.KindSymlink),
		},
		spec.KindAbsent: {
			build:  with(func(n string, s *spec.Absent) (resource.Resource, error) { return &file.Absent{Path: n}, nil }),
			remove: pathRemoval(spec.KindAbsent),
		},
	}
}
