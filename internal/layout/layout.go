// Package layout holds no code: its test checks the shape of the codebase,
// that every package has a package comment and that imports flow one way
// (cli -> plan -> agent -> resource -> transport; spec, secret, hint at the
// bottom), so a lower package never comes to depend on a higher one.
package layout
