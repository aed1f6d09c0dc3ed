// Package layout holds no code: its test checks the shape of the codebase.
// Every package has a package comment, and imports flow one way in two
// stacks and the backups beside them:
//
//	controller: cli -> plan -> inventory, transport
//	host:       agent -> resource, and the host side of pitr, snapshot, replica
//	backups:    cli -> pitr, snapshot, replica -> store
//
// with wire (the messages both ends speak), spec, secret, seal, retention,
// job, envdir, atomicfile, snapkey and hint below them, so a lower package never
// comes to depend on a higher one and neither stack reaches into the other
// (the controller does not import the host's runtime; they share only
// wire). inventory reaches hosts without any secret, and docs (cli ->
// docs -> spec) writes the documentation from the spec without either
// stack or any secret. The backup packages
// do not import each other. Only cmd/tend imports cli, and every file of
// internal/cli is a command or a piece of its output, at most 300 lines
// long.
package layout
