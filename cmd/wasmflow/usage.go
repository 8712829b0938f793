package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// errHelped: the usage was asked for (--help) and printed; exit 0.
var errHelped = errors.New("help printed")

// parseFlags parses args with fs as fs.Parse does, but says a flag error
// once, on one line with a hint, rather than letting package flag print it
// around the whole usage (main prints the error); --help prints the usage
// on standard output and ends the command with status 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return errHelped
	}
	msg := err.Error()
	if hint := flagHint(fs, err); hint != "" {
		msg = strings.TrimSuffix(msg, ": parse error") + hint
	}
	return fmt.Errorf("%s (see wasmflow %s --help)", msg, fs.Name())
}

// parseInterspersed parses args with fs, allowing flags after positional
// arguments ("run get ID --json"), and returns the positional arguments.
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			return append(rest, left...), nil
		}
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// badValue is how package flag reports a value its type could not parse.
var badValue = regexp.MustCompile(`^invalid value ".*" for flag -([^:]+): parse error$`)

// flagHint says what a flag that refused its value takes.
func flagHint(fs *flag.FlagSet, err error) string {
	m := badValue.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	f := fs.Lookup(m[1])
	if f == nil {
		return ""
	}
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch getter.Get().(type) {
	case time.Duration:
		return ": use a duration such as 10s (a number needs a unit: ms, s, m or h)"
	case int, int64, uint, uint64:
		return ": use a whole number such as 16"
	case bool:
		return ": use true or false"
	}
	return ""
}
