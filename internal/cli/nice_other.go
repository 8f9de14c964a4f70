//go:build !unix

package cli

import "errors"

// setNice is not available here: the watch keeps its priority.
func setNice(int, bool) error { return errors.New("this system has no nice values") }
