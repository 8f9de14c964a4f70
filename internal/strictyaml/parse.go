package strictyaml

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgrunbook/pgrunbook/internal/position"
)

// Parse parses a YAML document into its node tree. file names the
// source in errors. A syntax error is a *position.Error at the line the
// parser names (column 1, since yaml.v3 gives none), with its snippet and
// the message "YAML syntax: ...".
func Parse(file string, data []byte) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, SyntaxError(position.NewSource(file, data), err)
	}
	return &root, nil
}

// SyntaxError turns an error of yaml.v3's parser into a problem in src
// at the line the message names. yaml.v3 leaves "line 1" out of its
// messages, so a message without a line is on line 1, except a reader's
// (bad UTF-8, control characters), which has no line at all and is a
// problem of the whole file.
func SyntaxError(src *position.Source, err error) *position.Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line, detail := parserMessage(msg)
	if strings.Contains(detail, "did not find expected") {
		// The parser names the line where the block it was reading
		// began; the culprit is usually a misindented line below it.
		detail += " (check the indentation of the lines that follow)"
	}
	if line == 0 && readerError(detail) {
		return src.Errorf(0, 0, "YAML syntax: %s", detail)
	}
	return src.Errorf(max(line, 1), 1, "YAML syntax: %s", detail)
}

// readerError reports whether a yaml.v3 message is one of its reader's,
// which checks the encoding before any line is counted.
func readerError(msg string) bool {
	return strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode character")
}

// parserLine matches yaml.v3's messages, "yaml: line N: message" from the
// parser and "line N: message" in a TypeError.
var parserLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parserMessage splits a yaml.v3 message into its line (0 when it names
// none) and the rest, without the "yaml: " prefix. It is the one reader
// of yaml.v3's positions.
func parserMessage(msg string) (int, string) {
	if m := parserLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}
