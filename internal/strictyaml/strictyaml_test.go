package strictyaml

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type inner struct {
	N int `yaml:"n"`
}

type outer struct {
	Name     string           `yaml:"name"`
	Items    []inner          `yaml:"items"`
	ByKey    map[string]inner `yaml:"by_key"`
	Ptr      *inner           `yaml:"ptr"`
	Skip     string           `yaml:"-"`
	Embedded `yaml:",inline"`
}

type Embedded struct {
	Extra bool `yaml:"extra"`
}

func decode(src string) (outer, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		panic(err)
	}
	var o outer
	return o, Decode(&n, &o)
}

func TestDecodeAcceptsKnownKeys(t *testing.T) {
	o, err := decode("name: x\nitems: [{n: 1}]\nby_key: {a: {n: 2}}\nptr: {n: 3}\nextra: true\n")
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "x" || o.Items[0].N != 1 || o.ByKey["a"].N != 2 || o.Ptr.N != 3 {
		t.Errorf("decoded %+v", o)
	}
}

func TestDecodeRejectsUnknownKeysWithTheirPosition(t *testing.T) {
	cases := map[string]string{
		"nmae: x\n":                    `1:1: unknown key "nmae"`,
		"items:\n  - {n: 1, m: 2}\n":   `2:12: unknown key "m"`,
		"by_key: {a: {x: 1}}\n":        `1:14: unknown key "x"`,
		"ptr:\n  q: 1\n":               `2:3: unknown key "q"`,
		"Skip: x\n":                    `unknown key "Skip"`,
		"items:\n  - {n: one}\n":       `2:1: cannot unmarshal !!str`,
		"items: [{n: 1}]\nname: [a]\n": `cannot unmarshal !!seq into string`,
	}
	for src, want := range cases {
		_, err := decode(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", src, err, want)
		}
	}
}
