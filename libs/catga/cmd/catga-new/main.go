// Command catga-new generates a service of the repository from templates:
// what `make new-service NAME=shipping` runs.
//
//	catga-new -name shipping [-aggregate shipment] [-root DIR]
//
// It creates services/<name>/ (a module that requires and replaces
// libs/catga and libs/contracts like the other services, tidied), with a
// domain of one event-sourced aggregate (no I/O), app/ with one command,
// served on the NATS route "<name>.create" and over HTTP
// (POST /<aggregates>, GET /<aggregates>/{id}), adapters/, service/ wiring
// it on the peer chassis, main.go, domain and component tests (two peer
// processes through peertest, over SQLite and PostgreSQL, one killed
// mid-command), a Dockerfile and a README; adds the module to go.work and
// an entry to the generated block at the end of deploy/compose.yaml's
// services. The Makefile and catga-dev (make run) find every
// services/<name>/main.go, so nothing else lists services.
//
// The name is a lowercase identifier (a letter a-z, then letters a-z or
// digits, at most 30), not a Go keyword, and no service of that name may
// exist. The aggregate (default "item") follows the same rule. Nothing is
// left behind when a step fails: the directory, go.work and compose.yaml
// are put back as they were.
//
// The templates (templates/, fragments/) are embedded; they live in the
// module of the packages they use, so a change of the library that breaks
// them fails this command's test (TestGenerateShipping) in the same module.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/catga-go/catga/libs/catga/internal/repo"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "catga-new: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("catga-new", flag.ContinueOnError)
	name := fl.String("name", "", "the service's name: a lowercase identifier, e.g. shipping")
	aggregate := fl.String("aggregate", "", "the aggregate's name, a lowercase identifier (default \"item\")")
	root := fl.String("root", "", "the repository's root (default: the nearest directory with a go.work, from the working directory up)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (use -name)", fl.Args())
	}
	if *root == "" {
		r, err := repo.Root()
		if err != nil {
			return fmt.Errorf("%w: give -root", err)
		}
		*root = r
	}
	s, err := newSpec(*root, *name, *aggregate)
	if err != nil {
		return err
	}
	if err := generate(*root, s); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `created services/%[1]s: module %[2]s/services/%[1]s, aggregate %[3]s (stream %[3]s-<id>)
  registered in go.work and deploy/compose.yaml; make build, test, lint, images and run find it
  NATS route %[1]s.create; HTTP POST /%[4]s, GET /%[4]s/{id}
next:
  cd services/%[1]s && go test ./...   # domain tests, component tests with two peers over SQLite and PostgreSQL
  make run                             # two peers of %[1]s with the others, behind a gateway
`, s.Name, s.Module, s.Agg, s.Plural)
	return nil
}

// generate writes the service and registers it; on failure it undoes what
// it did.
func generate(root string, s spec) (err error) {
	files, err := render(s)
	if err != nil {
		return err
	}
	composePath := filepath.Join(root, "deploy", "compose.yaml")
	compose, err := os.ReadFile(composePath)
	if err != nil {
		return fmt.Errorf("%w: %w", errCompose, err)
	}
	newCompose, err := composeWith(compose, s)
	if err != nil {
		return err
	}
	var saved []fileBackup
	for _, p := range []string{filepath.Join(root, "go.work"), filepath.Join(root, "go.work.sum"), composePath} {
		b, err := backup(p)
		switch {
		case err == nil:
			saved = append(saved, b)
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	dir := filepath.Join(root, "services", s.Name)
	if err := writeTree(dir, files); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		undo := []error{os.RemoveAll(dir)}
		for _, b := range saved {
			undo = append(undo, b.restore())
		}
		if uerr := errors.Join(undo...); uerr != nil {
			err = errors.Join(err, fmt.Errorf("catga: undoing the generation: %w", uerr))
		}
	}()
	if err := os.WriteFile(composePath, newCompose, saved[len(saved)-1].mode); err != nil {
		return err
	}
	if err := goCmd(root, "work", "use", "./services/"+s.Name); err != nil {
		return err
	}
	// -e: a dependency's own tests may pin a module version the proxy no
	// longer serves; it is never built (see `make tidy`).
	return goCmd(dir, "mod", "tidy", "-e")
}
