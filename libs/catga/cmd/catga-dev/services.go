package main

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/catga-go/catga/libs/catga/internal/repo"
)

// discoverServices lists the services of the repository around the
// working directory: the directories under services/ that hold a main.go.
func discoverServices() ([]string, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, fmt.Errorf("%w: name the services with -services", err)
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
