package playbook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// factVersions are the facts that only some server versions have, with
// the first server_version_num that has them. Row fields are named as in
// expressions; server facts as server.NAME.
var factVersions = map[string]int{
	"query_id":                    140000, // pg_stat_activity.query_id
	"lock_wait_runtime":           140000, // pg_locks.waitstart
	"server.reserved_connections": 160000, // reserved_connections
}

// Requirement is a fact a playbook uses that needs a minimum server
// version.
type Requirement struct {
	Fact       string
	VersionNum int
	Pos        Pos
}

// Requirements lists the version-gated facts the playbook's expressions
// use, each once (at its first use), sorted by fact.
func (p *Playbook) Requirements() []Requirement {
	return append([]Requirement(nil), p.requires...)
}

// UnsupportedError says that a playbook uses a fact the connected server
// lacks.
type UnsupportedError struct {
	Path          string
	Missing       []Requirement
	ServerVersion int
}

func (e *UnsupportedError) Error() string {
	var parts []string
	for _, r := range e.Missing {
		parts = append(parts, fmt.Sprintf("%s (line %d) needs PostgreSQL %s or later", r.Fact, r.Pos.Line, versionText(r.VersionNum)))
	}
	return fmt.Sprintf("%s uses facts this server (PostgreSQL %s) does not have: %s",
		e.Path, versionText(e.ServerVersion), strings.Join(parts, "; "))
}

// CheckServer returns an *UnsupportedError when the playbook uses a fact
// that a server of versionNum lacks; nil when it has them all, or when the
// version is unknown (0).
func (p *Playbook) CheckServer(versionNum int) error {
	if versionNum == 0 {
		return nil
	}
	var missing []Requirement
	for _, r := range p.requires {
		if versionNum < r.VersionNum {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &UnsupportedError{Path: p.Path, Missing: missing, ServerVersion: versionNum}
}

func versionText(num int) string {
	if num >= 100000 {
		return fmt.Sprint(num / 10000)
	}
	return fmt.Sprintf("%d.%d", num/10000, num/100%100)
}

// noteRequirements records the version-gated facts an expression uses.
// A row field may be named directly (query_id), as a member of a row in a
// closure or set (.query_id) or, for server facts, as server.NAME.
func (c *checker) noteRequirements(e *Expr) {
	if e.Program == nil {
		return
	}
	node := e.Program.Node()
	ast.Find(node, func(n ast.Node) bool {
		var fact string
		switch x := n.(type) {
		case *ast.IdentifierNode:
			fact = x.Value
		case *ast.MemberNode:
			prop, ok := x.Property.(*ast.StringNode)
			if !ok {
				return false
			}
			fact = prop.Value
			if id, ok := x.Node.(*ast.IdentifierNode); ok {
				switch id.Value {
				case nameServer:
					fact = nameServer + "." + prop.Value
				case nameParams:
					return false // a parameter may be called anything
				}
			}
		default:
			return false
		}
		if v, ok := factVersions[fact]; ok {
			c.require(fact, v, e.Pos)
		}
		return false
	})
}

func (c *checker) require(fact string, version int, pos Pos) {
	for _, r := range c.pb.requires {
		if r.Fact == fact {
			return
		}
	}
	c.pb.requires = append(c.pb.requires, Requirement{Fact: fact, VersionNum: version, Pos: pos})
	sort.Slice(c.pb.requires, func(i, j int) bool { return c.pb.requires[i].Fact < c.pb.requires[j].Fact })
}
