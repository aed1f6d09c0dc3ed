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
		d := distance(name, n)
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

// distance is the optimal string alignment distance of a and b: the
// Levenshtein distance, with a swap of two neighbours counted as one edit
// (ngnix, nginx).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
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
