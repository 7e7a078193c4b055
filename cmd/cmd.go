// Package cmd implements the subcommands of the cloak binary.
//
// Each subcommand is a function that takes its arguments and the standard
// output and error streams and returns a process exit code, so the whole
// command line can be exercised from tests without starting a process.
package cmd

import (
	"fmt"
	"io"
	"runtime/debug"
	"sort"
)

// Version is the release version, set at link time with
// -ldflags "-X github.com/cloakproxy/cloak/cmd.Version=v1.2.3".
var Version = "dev"

// command is one subcommand of the cloak binary.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand by name. It is filled in init so that
// the help command can refer to the table itself.
var commands map[string]command

func init() {
	commands = map[string]command{
		"version": {"print the version and build information", runVersion},
		"help":    {"list the commands", runHelp},
		"serve":   {"start the S3 proxy (cloak serve -h for its flags)", runServe},
		"keys":    {"manage master keys: list, rotate, rewrap, retire, shred, export, import", runKeys},
		"migrate": {"encrypt plaintext objects of a bucket in place or into another bucket", runMigrate},
		"verify":  {"authenticate every object of a bucket (--quick: headers and keys only)", runVerify},
		"gc":      {"remove the state that ended uploads and replaced multipart objects left behind", runGC},
		"decrypt": {"recover plaintext offline, from the store or a raw object file", runDecrypt},
		"admin":   {"manage users, groups and policies, offline or through a server", runAdmin},
		"audit":   {"verify the audit log's chains and signatures, or report who accessed what", runAudit},
	}
}

// Main runs the subcommand named by args[0] and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		runHelp(nil, stderr, stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" {
		name = "help"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "cloak: unknown command %q; run \"cloak help\"\n", name)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func runHelp(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "cloak: an encrypting S3 proxy")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Usage: cloak <command> [flags]")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stdout, "  %-10s %s\n", n, commands[n].summary)
	}
	return 0
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(stdout, "cloak %s (%s)\n", Version, goVersion)
	return 0
}
