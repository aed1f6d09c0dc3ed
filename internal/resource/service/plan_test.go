package service

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/resource"
)

func TestParseShow(t *testing.T) {
	out := "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=yes\nOther=x=y\n"
	want := State{LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled", NeedDaemonReload: true}
	if diff := cmp.Diff(want, ParseShow(out)); diff != "" {
		t.Errorf("ParseShow (-want +got):\n%s", diff)
	}
}

func TestPlan(t *testing.T) {
	yes, no := true, false
	const u = "[Service]\nExecStart=/bin/true\n"
	running := State{LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled"}
	stopped := State{LoadState: "loaded", ActiveState: "inactive", UnitFileState: "disabled"}
	for _, tc := range []struct {
		name   string
		s      Service
		st     State
		have   string
		exists bool
		want   []resource.Field // nil: no change
		action resource.Action
		err    string
	}{
		{name: "new unit", s: Service{Unit: u, Enabled: &yes, Running: &yes}, st: State{LoadState: "not-found", ActiveState: "inactive"},
			action: resource.Create, want: []resource.Field{fld("unit", "", "30 bytes"), fld("enabled", "", "enabled"), fld("running", "inactive", "active")}},
		{name: "in sync", s: Service{Unit: u, Enabled: &yes, Running: &yes}, st: running, have: u, exists: true},
		{name: "left alone", s: Service{}, st: running},
		{name: "unit changed while running", s: Service{Unit: u}, st: running, have: "old", exists: true,
			action: resource.Update, want: []resource.Field{fld("unit", "3 bytes", "30 bytes"), fld("restart", "", "unit changed")}},
		{name: "same size, other bytes", s: Service{Unit: "b"}, st: stopped, have: "a", exists: true,
			action: resource.Update, want: []resource.Field{fld("unit", "changed", "changed")}},
		{name: "unit changed, stop wanted", s: Service{Unit: u, Running: &no}, st: running, have: "old", exists: true,
			action: resource.Update, want: []resource.Field{fld("unit", "3 bytes", "30 bytes"), fld("running", "active", "inactive")}},
		{name: "unit changed, start wanted", s: Service{Unit: u, Running: &yes}, st: stopped, have: "old", exists: true,
			action: resource.Update, want: []resource.Field{fld("unit", "3 bytes", "30 bytes"), fld("running", "inactive", "active")}},
		{name: "not reloaded", s: Service{Unit: u}, st: State{LoadState: "loaded", ActiveState: "active", NeedDaemonReload: true}, have: u, exists: true,
			action: resource.Update, want: []resource.Field{fld("daemon-reload", "", "unit file not loaded yet"), fld("restart", "", "unit changed")}},
		{name: "disable", s: Service{Enabled: &no}, st: running, action: resource.Update, want: []resource.Field{fld("enabled", "enabled", "disabled")}},
		{name: "disabled already", s: Service{Enabled: &no, Running: &no}, st: stopped},
		{name: "failed counts as stopped", s: Service{Running: &yes}, st: State{LoadState: "loaded", ActiveState: "failed"},
			action: resource.Update, want: []resource.Field{fld("running", "failed", "active")}},
		{name: "static", s: Service{Enabled: &yes}, st: State{LoadState: "loaded", UnitFileState: "static"}, err: "has no [Install] section"},
		{name: "masked", s: Service{Running: &yes}, st: State{LoadState: "masked", UnitFileState: "masked"}, err: "is masked"},
		{name: "masked, stop wanted", s: Service{Running: &no}, st: State{LoadState: "masked", UnitFileState: "masked", ActiveState: "inactive"}},
		{name: "unknown", s: Service{Running: &yes}, st: State{LoadState: "not-found"}, err: "systemd has no unit x.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			s.Name, s.UnitDir = "x", "/etc/systemd/system"
			c, err := s.Plan(tc.st, tc.have, tc.exists)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if c != nil {
					t.Fatalf("change %+v, want none", c)
				}
				return
			}
			if c == nil {
				t.Fatalf("no change, want %v", tc.want)
			}
			if diff := cmp.Diff(tc.want, c.Fields); diff != "" || c.Action != tc.action {
				t.Errorf("action %s, want %s; fields (-want +got):\n%s", c.Action, tc.action, diff)
			}
			if c.Has("unit") && c.Diff == "" {
				t.Errorf("a unit change without a diff")
			}
		})
	}
}

func fld(name, from, to string) resource.Field {
	return resource.Field{Name: name, From: from, To: to}
}
