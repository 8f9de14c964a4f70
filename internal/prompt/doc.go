// Package prompt asks the operator questions on a terminal with survey.
// It is the only package that imports survey; the engine sees it as an
// engine.Prompter.
package prompt
