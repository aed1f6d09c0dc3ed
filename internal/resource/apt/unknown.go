package apt

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"tend/internal/hint"
	"tend/internal/resource"
)

// Nearest returns the name in names closest to name (fewest letters
// added, removed, replaced or swapped with their neighbour), "" when none
// is close enough to be a likely typo: at most one edit for names of up to
// four letters, two beyond. Ties go to the shorter, then the first in
// alphabetical order.
func Nearest(name string, names []string) string {
	limit := 1
	if len(name) > 4 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, n := range names {
		if n == name || abs(len(n)-len(name)) > limit {
			continue
		}
		d := hint.Distance(name, n)
		if d < bestD || d == bestD && (len(n) < len(best) || len(n) == len(best) && n < best) {
			best, bestD = n, d
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// unknown is the error for a package the apt cache has no version of;
// after says what was done first (", even after apt-get update").
func (p *Package) unknown(ctx context.Context, after string) error {
	out, err := resource.Command(ctx, "apt-cache", "pkgnames")
	if err != nil {
		return fmt.Errorf("package %s: list the apt cache's packages: %w", p.Name, err)
	}
	names := strings.Fields(out)
	if slices.Contains(names, p.Name) {
		return hint.Wrap(fmt.Errorf("package %s has no installable version in this host's apt sources%s: it is a virtual package, or one the sources only mention", p.Name, after),
			fmt.Sprintf("apt-cache showpkg %s on the host lists the packages that provide it: declare one of them", p.Name))
	}
	msg := fmt.Sprintf("package %s is in none of this host's apt sources%s", p.Name, after)
	if n := Nearest(p.Name, names); n != "" {
		msg += ": did you mean " + n + "?"
	}
	return hint.Wrap(fmt.Errorf("%s", msg),
		fmt.Sprintf("check its name (apt-cache search %s on the host lists similar ones), and the sources in /etc/apt/sources.list{,.d}", p.Name))
}
