package playbooktest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/internal/strictyaml"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// MaxFileSize is the largest test file LoadFile reads: 16 MiB. A test
// file holds cases and may hold fixtures with their sessions, so it is
// allowed the size of the largest fixture (fixture.MaxFileSize); larger,
// and it is refused before it is read whole, since its YAML tree costs
// many times its size in memory. It is not adjustable: split the cases
// over several test files, or move fixtures to fixture files.
const MaxFileSize = fixture.MaxFileSize

// Suffixes that name a playbook test file.
var testSuffixes = []string{".test.yaml", ".test.yml"}

// IsTestFile reports whether path names a playbook test file.
func IsTestFile(path string) bool {
	for _, s := range testSuffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// fileSpec is a test file as written.
type fileSpec struct {
	// Playbook is the playbook under test: a path relative to the test
	// file, or a built-in name. Default: the test file's name without
	// .test (NAME.test.yaml tests NAME.yaml next to it, or the built-in
	// NAME).
	Playbook string `yaml:"playbook"`
	// Fixtures are named fixtures the cases may share.
	Fixtures map[string]fixture.File `yaml:"fixtures"`
	Cases    []caseNode              `yaml:"cases"`
}

// caseSpec is one case as written.
type caseSpec struct {
	Name string `yaml:"name"`
	// The sessions: exactly one of Fixture (a name under fixtures: or a
	// fixture file relative to the test file), Transcript (a recorded
	// run, relative to the test file) or Sessions (with an optional Now).
	Fixture    string                `yaml:"fixture"`
	Transcript string                `yaml:"transcript"`
	Now        string                `yaml:"now"`
	Sessions   []fixture.SessionSpec `yaml:"sessions"`
	// Server sets the server facts for sessions: (server.max_connections, ...).
	Server fixture.ServerSpec `yaml:"server"`
	// Horizon and Samples go with sessions: what a horizon step reads,
	// and the later samples of an activity step that samples.
	Horizon fixture.HorizonSpec  `yaml:"horizon"`
	Samples []fixture.SampleSpec `yaml:"samples"`
	// Params are --set values; a list parameter may be a YAML list.
	Params     map[string]paramValue `yaml:"params"`
	Protect    []string              `yaml:"protect"`
	MaxTargets int                   `yaml:"max_targets"`
	// Mode is yes (the default), dry-run or interactive.
	Mode string `yaml:"mode"`
	// Answers answer the confirmations of an interactive case, in order:
	// all, skip, abort, refresh, or "subset PID...".
	Answers []string   `yaml:"answers"`
	Expect  expectSpec `yaml:"expect"`
}

// caseNode keeps a case's position while decoding it strictly.
type caseNode struct {
	spec caseSpec
	line int
}

// UnmarshalYAML decodes a case, refusing unknown keys.
func (c *caseNode) UnmarshalYAML(n *yaml.Node) error {
	c.line = n.Line
	return strictyaml.Decode(n, &c.spec)
}

// paramValue is a parameter value: a scalar, or a list joined by commas
// as --set takes it.
type paramValue string

// UnmarshalYAML accepts a scalar or a list of scalars.
func (p *paramValue) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*p = paramValue(n.Value)
		return nil
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return strictyaml.Errorf(item, "a list parameter holds plain values")
			}
			parts[i] = item.Value
		}
		*p = paramValue(strings.Join(parts, ","))
		return nil
	}
	return strictyaml.Errorf(n, "a parameter value is a plain value or a list")
}

// expectSpec is what a case expects. Only what is given is checked.
type expectSpec struct {
	// Outcome is run_finished's outcome: done, failed, refused, aborted.
	Outcome  string `yaml:"outcome"`
	ExitCode *int   `yaml:"exit_code"`
	// Sets maps a target set, written as in a playbook (long,
	// stopped.failed, cancel.signalled), to the pids it must hold, in
	// any order.
	Sets map[string][]int `yaml:"sets"`
	// Excluded maps a step to the pids it showed but would not target
	// (protected, hidden, our own, not a client backend).
	Excluded map[string][]int `yaml:"excluded"`
	// Skipped lists every step whose condition was false.
	Skipped []string `yaml:"skipped"`
	// Actions lists every signal: "FUNCTION PID [OUTCOME]", where
	// FUNCTION is pg_cancel_backend or pg_terminate_backend (or cancel,
	// terminate), in any order.
	Actions []string `yaml:"actions"`
	// Prompts lists every confirmation shown, in order.
	Prompts []promptSpec `yaml:"prompts"`
	// Warnings lists texts that some warning must contain; Notes texts
	// that some note must contain.
	Warnings []string `yaml:"warnings"`
	Notes    []string `yaml:"notes"`
	// Groups maps a summarize step to its groups, largest first: each
	// gives any of its by fields and count, and only those are compared.
	Groups map[string][]map[string]string `yaml:"groups"`
}

// promptSpec is an expected confirmation; only the fields given are
// compared.
type promptSpec struct {
	Step     string `yaml:"step"`
	Question string `yaml:"question"`
	Answer   string `yaml:"answer"`
	Chosen   []int  `yaml:"chosen"`
}

// Suite is a loaded test file.
type Suite struct {
	// Path is the test file.
	Path string
	// Group names the suite in output: the file name without .test.yaml.
	Group    string
	Playbook *playbook.Playbook
	Cases    []*Case
}

// Case is one loaded test case.
type Case struct {
	Name string
	// Line is the case's line in the test file.
	Line int
	// source makes a fresh offline source for each run.
	source     func() *fixture.Source
	server     transcript.Server
	params     playbook.Values
	protect    []*playbook.Expr
	maxTargets int
	mode       engine.Mode
	answers    []engine.Answer
	expect     expectation
}

// FullName is the name -run matches: GROUP/CASE NAME.
func (c *Case) FullName(s *Suite) string { return s.Group + "/" + c.Name }

// LoadFile reads and checks a test file: its playbook, fixtures, cases
// and expectations. A step or set an expectation names must exist in the
// playbook.
func LoadFile(path string) (*Suite, error) {
	data, err := strictyaml.ReadFile(path, MaxFileSize, "a playbook test file")
	if err != nil {
		return nil, err
	}
	src := position.NewSource(path, data)
	root, err := strictyaml.Parse(path, data)
	if err != nil {
		return nil, err
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, &position.Error{File: path, Message: "the file is empty: a test file needs cases:"}
	}
	var spec fileSpec
	if err := strictyaml.Decode(root, &spec); err != nil {
		return nil, src.Locate(err)
	}
	group := filepath.Base(path)
	for _, s := range testSuffixes {
		group = strings.TrimSuffix(group, s)
	}
	s := &Suite{Path: path, Group: group}
	if s.Playbook, err = loadPlaybook(path, spec.Playbook, group); err != nil {
		return nil, err
	}
	if len(spec.Cases) == 0 {
		return nil, &position.Error{File: path, Message: "no cases: add a cases: list"}
	}
	fixtures := map[string]*fixture.Fixture{}
	for name, f := range spec.Fixtures {
		fx, err := f.Build(fmt.Sprintf("%s: fixture %s", path, name))
		if err != nil {
			return nil, err
		}
		fixtures[name] = fx
	}
	names := map[string]int{}
	for _, cn := range spec.Cases {
		c, err := s.loadCase(cn, fixtures)
		if err != nil {
			return nil, src.Errorf(cn.line, 0, "%s", err)
		}
		if prev, dup := names[c.Name]; dup {
			return nil, src.Errorf(cn.line, 0, "case %q has the name of the case on line %d", c.Name, prev)
		}
		names[c.Name] = c.Line
		s.Cases = append(s.Cases, c)
	}
	return s, nil
}

// loadPlaybook resolves a test file's playbook.
func loadPlaybook(testPath, ref, group string) (*playbook.Playbook, error) {
	dir := filepath.Dir(testPath)
	if ref == "" {
		for _, ext := range []string{".yaml", ".yml"} {
			if p := filepath.Join(dir, group+ext); fileExists(p) {
				return playbook.Load(p)
			}
		}
		ref = group
	}
	if strings.ContainsAny(ref, `/\`) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		return playbook.Load(filepath.Join(dir, ref))
	}
	src, ok := playbooks.Source(ref)
	if !ok {
		return nil, &position.Error{File: testPath, Message: fmt.Sprintf("playbook %q: no such file next to the test file, and no built-in playbook of that name (built-in: %s)", ref, strings.Join(playbooks.Names(), ", "))}
	}
	return playbook.Parse("builtin:"+ref, src)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func (s *Suite) loadCase(cn caseNode, fixtures map[string]*fixture.Fixture) (*Case, error) {
	sp := cn.spec
	c := &Case{Name: strings.TrimSpace(sp.Name), Line: cn.line, maxTargets: sp.MaxTargets}
	if c.Name == "" {
		return nil, errors.New("the case has no name")
	}
	if strings.Contains(c.Name, "\n") {
		return nil, errors.New("a case name is one line")
	}
	var err error
	if c.source, c.server, err = s.caseSource(sp, fixtures); err != nil {
		return nil, err
	}
	var sets []string
	for _, k := range slices.Sorted(maps.Keys(sp.Params)) {
		sets = append(sets, k+"="+string(sp.Params[k]))
	}
	if c.params, err = s.Playbook.Resolve(sets); err != nil {
		return nil, fmt.Errorf("params: %v", strings.ReplaceAll(err.Error(), "--set ", ""))
	}
	if c.protect, err = s.Playbook.CompileProtect(sp.Protect); err != nil {
		return nil, fmt.Errorf("protect: %v", err)
	}
	if sp.MaxTargets < 0 {
		return nil, errors.New("max_targets must be at least 1")
	}
	switch m := engine.Mode(sp.Mode); m {
	case "":
		c.mode = engine.Yes
	case engine.Yes, engine.DryRun, engine.Interactive:
		c.mode = m
	default:
		return nil, fmt.Errorf("mode %q: use yes, dry-run or interactive", sp.Mode)
	}
	if len(sp.Answers) > 0 && c.mode != engine.Interactive {
		return nil, errors.New("answers are for mode: interactive (yes and dry-run answer every confirmation with all)")
	}
	for _, a := range sp.Answers {
		ans, err := parseAnswer(a)
		if err != nil {
			return nil, err
		}
		c.answers = append(c.answers, ans)
	}
	if c.expect, err = s.expectation(sp.Expect); err != nil {
		return nil, fmt.Errorf("expect: %v", err)
	}
	return c, nil
}

// caseSource returns a constructor of the case's offline source.
func (s *Suite) caseSource(sp caseSpec, fixtures map[string]*fixture.Fixture) (func() *fixture.Source, transcript.Server, error) {
	given := 0
	for _, set := range []bool{sp.Fixture != "", sp.Transcript != "", sp.Sessions != nil} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, transcript.Server{}, errors.New("give exactly one of fixture:, transcript: or sessions:")
	}
	if sp.Now != "" && sp.Sessions == nil {
		return nil, transcript.Server{}, errors.New("now: goes with sessions:")
	}
	if (sp.Samples != nil || !reflect.ValueOf(sp.Horizon).IsZero()) && sp.Sessions == nil {
		return nil, transcript.Server{}, errors.New("horizon: and samples: go with sessions: (a fixture file or a fixture under fixtures: gives its own)")
	}
	// What run_started records for a simulated server.
	server := transcript.Server{Host: "offline", Database: "(fixture)", Version: "(simulated)", User: "pgrunbook",
		Superuser: true, ReadAllStats: true, SignalBackend: true}
	dir := filepath.Dir(s.Path)
	var fx *fixture.Fixture
	switch {
	case sp.Sessions != nil:
		f := fixture.File{Now: sp.Now, Sessions: sp.Sessions, Server: sp.Server, Horizon: sp.Horizon, Samples: sp.Samples}
		var err error
		if fx, err = f.Build("sessions"); err != nil {
			return nil, server, err
		}
	case sp.Transcript != "":
		path := filepath.Join(dir, sp.Transcript)
		events, err := readTranscript(path)
		if err != nil {
			return nil, server, err
		}
		if _, err := fixture.FromTranscript(events); err != nil {
			return nil, server, fmt.Errorf("transcript %s: %v", sp.Transcript, err)
		}
		if events[0].Server != nil {
			server = *events[0].Server
		}
		return func() *fixture.Source {
			src, _ := fixture.FromTranscript(events)
			return src
		}, server, nil
	default:
		fx = fixtures[sp.Fixture]
		if fx == nil {
			if !strings.ContainsAny(sp.Fixture, `/\.`) {
				return nil, server, fmt.Errorf("fixture %q: not a name under fixtures: (have: %s), nor a file", sp.Fixture, strings.Join(slices.Sorted(maps.Keys(fixtures)), ", "))
			}
			var err error
			if fx, err = fixture.Load(filepath.Join(dir, sp.Fixture)); err != nil {
				return nil, server, err
			}
		}
	}
	server.VersionNum = fx.Server.VersionNum
	return fx.NewSource, server, nil
}

func readTranscript(path string) ([]transcript.Event, error) {
	rr, err := transcript.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(rr.Events) == 0 || rr.Events[0].Type != transcript.RunStarted {
		return nil, fmt.Errorf("%s: not a transcript (no run_started first)", path)
	}
	return rr.Events, nil
}

// parseAnswer reads one scripted answer.
func parseAnswer(s string) (engine.Answer, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return engine.Answer{}, errors.New("an empty answer")
	}
	choice := engine.Choice(fields[0])
	switch choice {
	case engine.ChooseAll, engine.ChooseSkip, engine.ChooseAbort, engine.ChooseRefresh:
		if len(fields) > 1 {
			return engine.Answer{}, fmt.Errorf("answer %q: only subset takes pids", s)
		}
		return engine.Answer{Choice: choice}, nil
	case engine.ChooseSubset:
		ans := engine.Answer{Choice: choice}
		for _, f := range fields[1:] {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return engine.Answer{}, fmt.Errorf("answer %q: %q is not a pid", s, f)
			}
			ans.PIDs = append(ans.PIDs, pid)
		}
		return ans, nil
	}
	return engine.Answer{}, fmt.Errorf("answer %q: use all, subset PID..., skip, refresh or abort", s)
}

// functionNames maps the ways an expected action may name its function.
var functionNames = map[string]activity.Function{
	playbook.KindCancel: activity.Cancel, string(activity.Cancel): activity.Cancel,
	playbook.KindTerminate: activity.Terminate, string(activity.Terminate): activity.Terminate,
}

var outcomes = []string{
	string(activity.Signalled), string(activity.NotFound), string(activity.Changed),
	string(activity.Denied), string(activity.Error), string(activity.DryRun),
}

var runOutcomes = []string{string(engine.OutcomeDone), string(engine.OutcomeFailed), string(engine.OutcomeRefused), string(engine.OutcomeAborted),
	string(engine.OutcomeInterrupted), string(engine.OutcomeError), string(engine.OutcomeConnectionLost)}
