package activity

import (
	"slices"
	"strings"
)

// CommandOf names the command of a statement from its text, as its
// command tag in upper case (SELECT, UPDATE, ALTER TABLE, CREATE INDEX,
// VACUUM, COPY, ...), and says whether it is DDL. Playbooks filter on the
// tag instead of matching SQL text with regular expressions.
//
// It reads only the first words of the statement, after comments and
// opening parentheses; a WITH query is named by its main statement
// (WITH ... UPDATE is UPDATE). Autovacuum workers' descriptions
// ("autovacuum: VACUUM public.t") are AUTOVACUUM or AUTOANALYZE. Text it
// does not recognise gives its first word in upper case; no text gives "".
func CommandOf(query string) (command string, ddl bool) {
	if rest, ok := strings.CutPrefix(query, "autovacuum: "); ok {
		if strings.HasPrefix(rest, "ANALYZE") {
			return "AUTOANALYZE", false
		}
		return "AUTOVACUUM", false
	}
	words := leadingWords(query, 6)
	if len(words) == 0 {
		return "", false
	}
	if words[0] == "WITH" {
		words = mainStatementAfterWith(query)
		if len(words) == 0 {
			return "SELECT", false
		}
	}
	first := words[0]
	switch first {
	case "CREATE", "ALTER", "DROP":
		return first + " " + objectKind(words[1:]), true
	case "TRUNCATE", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER":
		return first, true
	case "SECURITY":
		return "SECURITY LABEL", true
	case "REFRESH":
		return "REFRESH MATERIALIZED VIEW", true
	case "VALUES", "TABLE":
		return "SELECT", false
	case "START":
		return "BEGIN", false
	case "END":
		return "COMMIT", false
	case "ANALYSE":
		return "ANALYZE", false
	case "IMPORT":
		return "IMPORT FOREIGN SCHEMA", true
	}
	return first, false
}

// objectModifiers are the words that may stand between CREATE, ALTER or
// DROP and the kind of object.
var objectModifiers = []string{"OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "CONSTRAINT", "RECURSIVE", "TRUSTED", "PROCEDURAL", "DEFAULT"}

// twoWordKinds are object kinds written in two words.
var twoWordKinds = map[string]string{
	"MATERIALIZED": "VIEW", "FOREIGN": "", "EVENT": "TRIGGER", "TEXT": "SEARCH", "ACCESS": "METHOD",
	"USER": "MAPPING", "OPERATOR": "", "LARGE": "OBJECT",
}

// objectKind reads the kind of object after CREATE, ALTER or DROP:
// TABLE, INDEX, MATERIALIZED VIEW, FOREIGN TABLE, ...
func objectKind(words []string) string {
	for len(words) > 0 && slices.Contains(objectModifiers, words[0]) {
		words = words[1:]
	}
	if len(words) == 0 {
		return ""
	}
	kind := words[0]
	if second, ok := twoWordKinds[kind]; ok && len(words) > 1 {
		if second == "" || words[1] == second {
			switch words[1] {
			case "TABLE", "DATA", "VIEW", "TRIGGER", "SEARCH", "METHOD", "MAPPING", "OBJECT", "CLASS", "FAMILY", "WRAPPER":
				return kind + " " + words[1]
			}
		}
	}
	return kind
}

// leadingWords returns up to n words of the statement in upper case,
// skipping white space, comments and opening parentheses. A word is a
// run of letters and underscores.
func leadingWords(query string, n int) []string {
	var words []string
	sc := sqlScanner{src: query}
	for len(words) < n {
		tok, ok := sc.next()
		if !ok {
			break
		}
		if tok == "(" {
			continue
		}
		if !isWord(tok) {
			break
		}
		words = append(words, strings.ToUpper(tok))
	}
	return words
}

// mainStatementAfterWith finds the first words after a WITH query's
// common table expressions: the first word at parenthesis depth 0 that
// follows a closing parenthesis and is not a comma, AS, NOT, MATERIALIZED,
// SEARCH or CYCLE clause.
func mainStatementAfterWith(query string) []string {
	sc := sqlScanner{src: query}
	depth := 0
	afterClose := false
	for {
		start := sc.pos
		tok, ok := sc.next()
		if !ok {
			return nil
		}
		switch {
		case tok == "(":
			depth++
			afterClose = false
		case tok == ")":
			depth--
			afterClose = depth == 0
		case depth == 0 && afterClose && isWord(tok):
			w := strings.ToUpper(tok)
			switch w {
			case "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE":
				return leadingWords(query[start:], 6)
			}
		case tok == ",":
			afterClose = false
		}
	}
}

func isWord(tok string) bool {
	if tok == "" {
		return false
	}
	for _, c := range tok {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// sqlScanner splits SQL text into words, quoted strings, identifiers and
// single punctuation characters, skipping white space and comments.
type sqlScanner struct {
	src string
	pos int
}

// next returns the next token, or false at the end of the text.
func (s *sqlScanner) next() (string, bool) {
	s.skipSpaceAndComments()
	if s.pos >= len(s.src) {
		return "", false
	}
	start := s.pos
	c := s.src[s.pos]
	switch {
	case c == '\'' || c == '"':
		s.pos++
		for s.pos < len(s.src) {
			if s.src[s.pos] == c {
				if s.pos+1 < len(s.src) && s.src[s.pos+1] == c {
					s.pos += 2
					continue
				}
				s.pos++
				break
			}
			s.pos++
		}
	case c == '$':
		s.skipDollarQuote()
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		for s.pos < len(s.src) {
			d := s.src[s.pos]
			if !(d == '_' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || d >= '0' && d <= '9') {
				break
			}
			s.pos++
		}
	default:
		s.pos++
	}
	return s.src[start:s.pos], true
}

// skipDollarQuote skips a dollar-quoted string ($$...$$ or $tag$...$tag$),
// or a single $ (a parameter such as $1) when none starts here.
func (s *sqlScanner) skipDollarQuote() {
	end := strings.IndexByte(s.src[s.pos+1:], '$')
	if end < 0 {
		s.pos++
		return
	}
	tag := s.src[s.pos : s.pos+end+2]
	for _, c := range tag[1 : len(tag)-1] {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			s.pos++
			return
		}
	}
	body := s.pos + len(tag)
	if close := strings.Index(s.src[body:], tag); close >= 0 {
		s.pos = body + close + len(tag)
	} else {
		s.pos = len(s.src)
	}
}

func (s *sqlScanner) skipSpaceAndComments() {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';':
			s.pos++
		case strings.HasPrefix(s.src[s.pos:], "--"):
			if nl := strings.IndexByte(s.src[s.pos:], '\n'); nl >= 0 {
				s.pos += nl + 1
			} else {
				s.pos = len(s.src)
			}
		case strings.HasPrefix(s.src[s.pos:], "/*"):
			// Block comments nest in PostgreSQL.
			depth := 0
			for s.pos < len(s.src) {
				if strings.HasPrefix(s.src[s.pos:], "/*") {
					depth++
					s.pos += 2
				} else if strings.HasPrefix(s.src[s.pos:], "*/") {
					depth--
					s.pos += 2
					if depth == 0 {
						break
					}
				} else {
					s.pos++
				}
			}
		default:
			return
		}
	}
}
