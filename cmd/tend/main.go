// Command tend turns one git repository into a small organisation's whole
// infrastructure. All behaviour lives in internal/cli; this file only wires it.
package main

import (
	"os"

	"tend/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
