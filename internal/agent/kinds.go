package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	"tend/internal/resource"
	"tend/internal/resource/file"
	"tend/internal/spec"
)

// constructor makes a resource from its name and its spec's JSON.
type constructor func(name string, raw json.RawMessage) (resource.Resource, error)

// registry lists every kind this agent implements. It is built here, in one
// function, from one list per family of kinds (one file each).
func registry() map[spec.Kind]constructor {
	m := map[spec.Kind]constructor{}
	for _, part := range []map[spec.Kind]constructor{
		pathKinds(), systemKinds(), accountKinds(), deployKinds(), postgresKinds(),
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
func with[S any](f func(name string, s *S) (resource.Resource, error)) constructor {
	return func(name string, raw json.RawMessage) (resource.Resource, error) {
		s := new(S)
		if err := Decode(raw, s); err != nil {
			return nil, err
		}
		return f(name, s)
	}
}

func pathKinds() map[spec.Kind]constructor {
	return map[spec.Kind]constructor{
		spec.KindFile: with(func(n string, s *spec.File) (resource.Resource, error) { return file.NewFile(n, s) }),
		spec.KindDirectory: with(func(n string, s *spec.Directory) (resource.Resource, error) {
			return file.NewDirectory(n, s)
		}),
		spec.KindSymlink: with(func(n string, s *spec.Symlink) (resource.Resource, error) {
			return &file.Symlink{Path: n, Target: s.Target}, nil
		}),
		spec.KindAbsent: with(func(n string, s *spec.Absent) (resource.Resource, error) { return &file.Absent{Path: n}, nil }),
	}
}
