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
	// The matches are found, ordered and cut to the limit as indexes, and
	// copied once: a session is a large value, and sorting or growing a
	// set of them would move far more memory than the set keeps.
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
	if f.OrderBy != nil {
		keys := make([]any, len(rows))
		for _, i := range kept {
			v, err := ev.Value(f.OrderBy, &rows[i])
			if err != nil {
				return nil, err
			}
			keys[i] = v
		}
		slices.SortStableFunc(kept, func(a, b int) int {
			c := compareValues(keys[a], keys[b])
			if f.Descending {
				return -c
			}
			return c
		})
	}
	if f.Limit > 0 && len(kept) > f.Limit {
		kept = kept[:f.Limit]
	}
	out := make([]activity.Session, len(kept))
	for j, i := range kept {
		out[j] = rows[i]
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
