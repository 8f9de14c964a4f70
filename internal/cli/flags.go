package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as people type them. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string, usage string, out io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(out, usage)
				return nil, &silentExit{code: 0}
			}
			return nil, usageErrorf("%s: %v\n\n%s", fs.Name(), err, usage)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag stops at the first non-flag; "--" is consumed by Parse, in
		// which case everything after it is positional.
		consumedDash := len(args) > len(rest) && args[len(args)-len(rest)-1] == "--"
		if consumedDash {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
