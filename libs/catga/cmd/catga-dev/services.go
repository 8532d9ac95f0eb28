package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// discoverServices lists the services of the repository around the
// working directory: the directories under services/ that hold a main.go.
func discoverServices() ([]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mains {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no services/<name>/main.go under %s", root)
	}
	sort.Strings(out)
	return out, nil
}

// repoRoot is the nearest directory, from the working directory up, that
// holds go.work.
func repoRoot() (string, error) {
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
			return "", errors.New("not inside the repository (no go.work above the working directory): name the services with -services")
		}
		dir = parent
	}
}
