//go:build !unix

package rehearse

// Leftovers lists what of the sandbox still exists; where processes
// cannot be probed it reports nothing.
func (s SandboxInfo) Leftovers() []string { return nil }
