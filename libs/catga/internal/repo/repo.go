// Package repo finds the Catga-Go repository the developer commands
// (catga-dev, catga-new) run in.
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNotFound: no directory from the working directory up holds go.work.
var ErrNotFound = errors.New("catga: not inside the repository (no go.work above the working directory)")

// Root is the nearest directory, from the working directory up, that
// holds go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}
