package edit_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// TestConverge runs the convergence suite on a lab host for block and
// line in a file a package owns: each state's first plan shows the change
// and changes nothing, apply makes it, the next plan is empty, a second
// apply changes nothing; the rest of the file stays; a block that leaves
// the desired state leaves the file, a line stays, state: absent removes it.
func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	const path = "/etc/ssh/sshd_config"
	orig := l.Run(t, "host1", "cat "+path)
	read := func() string { return l.Run(t, "host1", "cat "+path) }
	block := func(content string) wire.Item {
		return item(spec.KindBlock, "hard", spec.Block{Path: path, Content: content})
	}
	line := item(spec.KindLine, "alive", spec.Line{Path: path, Match: `^#?ClientAliveInterval\s`, Text: "ClientAliveInterval 120"})
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "block and line",
			Resources: []wire.Item{block("X11Forwarding no\n"), line},
			Check: func(t *testing.T) {
				got := read()
				if !strings.Contains(got, "# BEGIN tend block hard\nX11Forwarding no\n# END tend block hard\n") || !strings.Contains(got, "\nClientAliveInterval 120\n") {
					t.Errorf("sshd_config:\n%s", got)
				}
			},
		},
		resourcetest.State{
			Name:      "block changed",
			Resources: []wire.Item{block("X11Forwarding no\nAllowTcpForwarding no\n"), line},
			Check: func(t *testing.T) {
				if got := read(); strings.Count(got, "# BEGIN tend block hard") != 1 || !strings.Contains(got, "AllowTcpForwarding no\n# END") {
					t.Errorf("sshd_config:\n%s", got)
				}
			},
		},
		resourcetest.State{
			Name:      "block dropped",
			Resources: []wire.Item{line},
			Check: func(t *testing.T) {
				got := read()
				if strings.Contains(got, "tend block") || !strings.Contains(got, "\nClientAliveInterval 120\n") {
					t.Errorf("sshd_config:\n%s", got)
				}
			},
		},
		resourcetest.State{
			Name:      "line absent",
			Resources: []wire.Item{func() wire.Item { it := line; it.State = wire.Absent; return it }()},
			Check: func(t *testing.T) {
				got := read()
				if strings.Contains(got, "ClientAliveInterval") {
					t.Errorf("sshd_config still sets ClientAliveInterval:\n%s", got)
				}
				// Everything else as the package wrote it.
				var want []string
				for _, l := range strings.Split(orig, "\n") {
					if !strings.Contains(l, "ClientAliveInterval") {
						want = append(want, l)
					}
				}
				if got != strings.Join(want, "\n") {
					t.Errorf("the rest of the file changed:\n%s", got)
				}
			},
		},
	)
}
