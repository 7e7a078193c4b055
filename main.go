// Command cloak is an S3-compatible proxy that encrypts every object body
// before it reaches the backing store. Run "cloak help" for the commands.
package main

import (
	"os"

	"github.com/cloakproxy/cloak/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
