package playbook

import (
	"maps"
	"slices"
	"testing"
)

// TestEveryKindHasADecoder checks that the step kinds, the format table
// and the decoders' table name the same kinds.
func TestEveryKindHasADecoder(t *testing.T) {
	kinds := slices.Sorted(slices.Values(StepKinds))
	if got := slices.Sorted(maps.Keys(Format.Kinds)); !slices.Equal(got, kinds) {
		t.Errorf("Format.Kinds has %v, StepKinds %v", got, kinds)
	}
	if got := slices.Sorted(maps.Keys(kindDecoders)); !slices.Equal(got, kinds) {
		t.Errorf("kindDecoders has %v, StepKinds %v", got, kinds)
	}
}
