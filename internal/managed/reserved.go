package managed

import (
	"fmt"
	"strconv"
	"strings"
)

// Settings that hold connection slots back from ordinary roles.
const (
	// SuperuserReserved is for superusers only.
	SuperuserReserved = "superuser_reserved_connections"
	// RDSSuperuserReserved is Amazon RDS's reserve for members of
	// rds_superuser.
	RDSSuperuserReserved = "rds.rds_superuser_reserved_connections"
	// Reserved is PostgreSQL 16's reserve for members of
	// pg_use_reserved_connections.
	Reserved = "reserved_connections"
)

// ReservedSlots is one reserve of connection slots and whether
// pgrunbook's role may connect into it when the server is otherwise full.
type ReservedSlots struct {
	// Setting names the reserve; Slots is its value.
	Setting string `json:"setting"`
	Slots   int    `json:"slots"`
	// For says who may use it: "superusers", "members of rds_superuser".
	For string `json:"for"`
	// Usable is true when pgrunbook's role is one of them.
	Usable bool `json:"usable"`
}

// SlotFacts are the raw facts the connect statement reads: each
// setting's value ("" when the server has no such setting) and the role's
// memberships.
type SlotFacts struct {
	SuperuserReserved, RDSSuperuserReserved, Reserved string
	Superuser, RDSSuperuserMember, UseReservedMember  bool
}

// Reserves lists the reserves the server has (a setting it lacks, or one
// set to 0, is left out) and which of them the role may use. A superuser
// may use every one.
func (f SlotFacts) Reserves() []ReservedSlots {
	var out []ReservedSlots
	add := func(setting, value, who string, usable bool) {
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n <= 0 {
			return
		}
		out = append(out, ReservedSlots{Setting: setting, Slots: n, For: who, Usable: f.Superuser || usable})
	}
	add(SuperuserReserved, f.SuperuserReserved, "superusers", false)
	add(RDSSuperuserReserved, f.RDSSuperuserReserved, "members of rds_superuser", f.RDSSuperuserMember)
	add(Reserved, f.Reserved, "members of pg_use_reserved_connections", f.UseReservedMember)
	return out
}

// ReservesSummary says in one line which reserved slots the role may use.
func ReservesSummary(reserves []ReservedSlots) string {
	if len(reserves) == 0 {
		return "the server reserves no connection slots: when max_connections is reached, pgrunbook cannot connect either"
	}
	var usable, other []string
	total := 0
	for _, r := range reserves {
		s := fmt.Sprintf("%s=%d (%s)", r.Setting, r.Slots, r.For)
		if r.Usable {
			usable = append(usable, s)
			total += r.Slots
		} else {
			other = append(other, s)
		}
	}
	if len(usable) == 0 {
		return "none of the reserved connection slots is for this role (" + strings.Join(other, ", ") +
			"): when the others are taken, pgrunbook cannot connect either"
	}
	s := fmt.Sprintf("may use %d reserved connection slot(s) when the others are taken: %s", total, strings.Join(usable, ", "))
	if len(other) > 0 {
		s += "; not " + strings.Join(other, ", ")
	}
	return s
}
