// Command auditctl works with the archives the auditfile exporter writes.
//
//	auditctl verify [flags] PATH    check an archive's integrity
//	auditctl keygen FILE            write a key pair for signing checkpoints
//
// main.go only dispatches: each subcommand lives in its own file as a
// command value listed in commands below. To add one, write <name>.go with
// a command and add it to the list.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set by the Makefile (-ldflags "-X main.version=..."), from
// builder-config.yaml's dist.version, so that auditctl and otelcol-audit
// built together say the same. Without it, the module's version is used.
var version string

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Exit statuses shared by the subcommands.
const (
	exitOK      = 0 // success (verify: the archive is intact)
	exitProblem = 1 // the command's own negative outcome (verify: the archive is broken)
	exitUsage   = 2 // bad usage, or the input could not be read at all
)

// command is one subcommand.
type command struct {
	name    string
	summary string // one line, for the usage
	// run parses its own flags from args (what follows its name) and
	// returns the exit status.
	run func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order the usage shows them.
var commands = []command{
	verifyCommand,
	queryCommand,
	keygenCommand,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "version", "-version", "--version", "-v":
		// The form otelcol-audit --version prints.
		fmt.Fprintf(stdout, "auditctl version %s\n", versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := lookup(args[1]); ok {
				return c.run([]string{"-h"}, stdout, stderr)
			}
		}
		usage(stdout)
		return exitOK
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "auditctl: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: auditctl <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "auditctl <command> -h" for a command's flags, "auditctl --version" for the version.`)
}

// parseArgs parses a subcommand's flags and arguments, with fs.Usage
// printing the command's help to fs.Output() (stderr). -h prints the help
// once, on stdout: left to itself, the flag package prints it to stderr
// before returning flag.ErrHelp, and with the command's own print to stdout
// a terminal showed it twice. A bad flag gets flag's message and the help
// on stderr. When ok is false the command returns code.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) (positional []string, code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {} // while parsing: printed below, once, where it belongs
	positional, err := parseInterspersed(fs, args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		out := fs.Output()
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(out)
		return nil, exitOK, false
	case err != nil:
		fs.Usage() // after flag's own message
		return nil, exitUsage, false
	}
	return positional, exitOK, true
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("verify PATH -json" as well as "verify -json PATH").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
