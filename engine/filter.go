package engine

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// filter keeps the rows of its source for which where is true, ordered and
// limited as the step says.
func (r *runner) filter(st *playbook.Step) error {
	f := st.Filter
	rows, err := selectRows(r.scope, f, r.scope.Sessions(f.From))
	if err != nil {
		return fmt.Errorf("step %d (filter): %w", st.Index+1, err)
	}
	r.scope.Put(st.ID, rows)
	ev := r.stepEvent(st, transcript.Selected)
	ev.Set, ev.Rows = st.ID, rows
	return r.emit(ev)
}

// selectRows evaluates a filter over rows.
func selectRows(scope *playbook.Scope, f *playbook.FilterStep, rows []activity.Session) ([]activity.Session, error) {
	ev := scope.RowEvaluator()
	// The matches are counted first and copied once: a session is a large
	// value, and growing the set by doubling would copy and allocate
	// about twice what it keeps.
	var kept []int
	for i := range rows {
		ok, err := ev.Bool(f.Where, &rows[i])
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, i)
		}
	}
	out := make([]activity.Session, len(kept))
	for j, i := range kept {
		out[j] = rows[i]
	}
	if f.OrderBy != nil {
		keys := make(map[int]any, len(out))
		for i := range out {
			v, err := ev.Value(f.OrderBy, &out[i])
			if err != nil {
				return nil, err
			}
			keys[out[i].PID] = v
		}
		slices.SortStableFunc(out, func(a, b activity.Session) int {
			c := compareValues(keys[a.PID], keys[b.PID])
			if f.Descending {
				return -c
			}
			return c
		})
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// compareValues orders the values an order_by expression can yield.
// Values of different or unordered types compare equal.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case int:
		if y, ok := b.(int); ok {
			return cmp.Compare(x, y)
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmp.Compare(x, y)
		}
	case string:
		if y, ok := b.(string); ok {
			return cmp.Compare(x, y)
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmp.Compare(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case bool:
		if y, ok := b.(bool); ok && x != y {
			if x {
				return 1
			}
			return -1
		}
	}
	return 0
}
