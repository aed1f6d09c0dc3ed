package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// The managed block of pg_hba.conf. Entries are matched first to last, so
// the block goes before the distribution's entries (declared entries take
// precedence), but after Debian's administrative line "local all postgres
// peer", which tend itself logs in through.
const (
	hbaBegin = "# BEGIN tend: entries managed by tend (edit the repository, not these lines)"
	hbaEnd   = "# END tend"
	hbaTag   = "# tend:"
)

// HBA is one pg_hba.conf entry, identified by its label in the managed
// block.
type HBA struct {
	Label                                 string
	Type, Database, User, Address, Method string
}

// NewHBA makes a pg_hba entry resource from its spec; label is its name.
func NewHBA(label string, s *spec.PostgresHBA) (*HBA, error) {
	h := &HBA{Label: label, Type: s.Type, Database: s.Database, User: s.User, Address: s.Address, Method: s.Method}
	if h.Type == "" {
		h.Type = "host"
	}
	if label == "" || strings.ContainsAny(label, " \t\r\n") {
		return nil, fmt.Errorf("label %q must not be empty nor contain spaces", label)
	}
	for _, f := range []string{h.Type, h.Database, h.User, h.Address, h.Method} {
		if strings.ContainsAny(f, "\r\n\x00") {
			return nil, fmt.Errorf("entry %s: a field cannot contain a line break", label)
		}
	}
	switch {
	case !slices.Contains([]string{"local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}, h.Type):
		return nil, fmt.Errorf("entry %s: type %q is not local, host, hostssl or hostnossl", label, h.Type)
	case h.Database == "" || h.User == "" || h.Method == "":
		return nil, fmt.Errorf("entry %s: database, user and method are required", label)
	case h.Type == "local" && h.Address != "":
		return nil, fmt.Errorf("entry %s: a local entry has no address", label)
	case h.Type != "local" && h.Address == "":
		return nil, fmt.Errorf("entry %s: a %s entry needs an address", label, h.Type)
	}
	return h, nil
}

// entry is the entry's fields, as written and shown in changes.
func (h *HBA) entry() string {
	f := []string{h.Type, h.Database, h.User}
	if h.Type != "local" {
		f = append(f, h.Address)
	}
	return strings.Join(append(f, h.Method), "\t")
}

func (h *HBA) line() string { return h.entry() + "\t" + hbaTag + h.Label }

// findEntry returns the entry (without its tag) labelled label in the
// managed block of content.
func findEntry(content, label string) (string, bool) {
	in := false
	for line := range strings.Lines(content) {
		line = strings.TrimRight(line, "\n")
		switch {
		case line == hbaBegin:
			in = true
		case line == hbaEnd:
			in = false
		case in:
			if e, l, ok := strings.Cut(line, hbaTag); ok && l == label {
				return strings.TrimRight(e, " \t"), true
			}
		}
	}
	return "", false
}

// setEntry returns content with the entry labelled label set to line: in
// place when it is there, else at the end of the managed block, making the
// block when there is none.
func setEntry(content, label, line string) string {
	lines := strings.SplitAfter(content, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	begin, end := -1, -1
	for i, l := range lines {
		l = strings.TrimRight(l, "\n")
		if l == hbaBegin && begin < 0 {
			begin = i
		}
		if l == hbaEnd && begin >= 0 && end < 0 {
			end = i
		}
	}
	if begin >= 0 && end > begin {
		for i := begin + 1; i < end; i++ {
			if _, l, ok := strings.Cut(strings.TrimRight(lines[i], "\n"), hbaTag); ok && l == label {
				lines[i] = line + "\n"
				return strings.Join(lines, "")
			}
		}
		return strings.Join(slices.Insert(lines, end, line+"\n"), "")
	}
	at := 0
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			if slices.Equal(f, []string{"local", "all", "postgres", "peer"}) {
				at = i + 1
			}
			break
		}
	}
	block := []string{hbaBegin + "\n", line + "\n", hbaEnd + "\n"}
	if at > 0 {
		block = append([]string{"\n"}, block...)
	} else {
		block = append(block, "\n")
	}
	return strings.Join(slices.Insert(lines, at, block...), "")
}

// hbaFile asks the server where its pg_hba.conf is.
func hbaFile(ctx context.Context) (string, error) {
	out, err := psql(ctx, "postgres", "SHOW hba_file;\n")
	return strings.TrimSpace(out), err
}

// Check implements resource.Resource.
func (h *HBA) Check(ctx context.Context) (*resource.Change, error) {
	path, err := hbaFile(ctx)
	if errors.Is(err, errNoServer) {
		c := &resource.Change{Action: resource.Create}
		c.Add("entry", "", h.entry())
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	have, ok := findEntry(string(content), h.Label)
	if ok && have == h.entry() {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Update}
	if !ok {
		c.Action = resource.Create
	}
	c.Add("entry", have, h.entry())
	return c, nil
}

// Apply implements resource.Resource: write the file, have the server
// check it (pg_hba_file_rules) and put the old one back if it finds an
// error, then reload.
func (h *HBA) Apply(ctx context.Context, c *resource.Change) error {
	return writeHBA(ctx, func(s string) string { return setEntry(s, h.Label, h.line()) })
}

// writeHBA rewrites pg_hba.conf with edit, has the server check the new
// file and puts the old one back if it finds an error, then reloads.
func writeHBA(ctx context.Context, edit func(string) string) error {
	path, err := hbaFile(ctx)
	if err != nil {
		return err
	}
	_, meta, err := resource.Stat(path)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := resource.WriteFile(path, []byte(edit(string(old))), meta); err != nil {
		return err
	}
	var bad []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	}
	_, err = query(ctx, "postgres", `SELECT coalesce(json_agg(json_build_object('line', line_number, 'error', error) ORDER BY line_number), '[]')
		FROM pg_hba_file_rules WHERE error IS NOT NULL;`+"\n", &bad)
	if err == nil && len(bad) > 0 {
		err = fmt.Errorf("the server refuses %s line %d: %s", path, bad[0].Line, bad[0].Error)
	}
	if err != nil {
		if rerr := resource.WriteFile(path, old, meta); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("%w (the file was put back as it was)", err)
	}
	var loaded string
	if _, err := query(ctx, "postgres", "SELECT to_json(pg_conf_load_time()::text);\n", &loaded); err != nil {
		return err
	}
	return reload(ctx, loaded)
}
