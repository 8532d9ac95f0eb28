package main

import (
	"errors"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// errInvalidName: a service or aggregate name that breaks the rules of
// [checkName], or a service that exists.
var errInvalidName = errors.New("catga: invalid name")

// maxNameLen bounds names: they become image names, NATS subjects and
// queue groups, a PostgreSQL schema and Go identifiers.
const maxNameLen = 30

var nameRule = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// reservedAggregates would make the generated code's identifiers collide
// (domain.Create<Agg>, app.Created{<Agg>, New}, ...).
var reservedAggregates = map[string]bool{
	"create": true, "created": true, "evolve": true, "new": true, "service": true, "invalid": true, "view": true,
}

// reservedServices would clash outside the service: bin/catga and bin/demo
// are the CLI and the demo `make build` writes, public is PostgreSQL's
// default schema (the service's schema is its name).
var reservedServices = map[string]bool{"catga": true, "demo": true, "public": true}

// checkName checks what (a "service" or "aggregate" name) is a lowercase Go
// identifier of at most maxNameLen bytes that is not a keyword.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the %s name is required (make new-service NAME=shipping)", errInvalidName, what)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: %s name %q is longer than %d bytes", errInvalidName, what, name, maxNameLen)
	case !nameRule.MatchString(name):
		return fmt.Errorf("%w: %s name %q: want a lowercase identifier, a letter a-z then letters a-z or digits (it names the Go package directory, NATS subjects, the PostgreSQL schema and the image)", errInvalidName, what, name)
	case token.IsKeyword(name):
		return fmt.Errorf("%w: %s name %q is a Go keyword", errInvalidName, what, name)
	}
	return nil
}

// spec is what the templates are filled with.
type spec struct {
	Name      string // service: "shipping"
	EnvName   string // in variable names: "SHIPPING"
	Agg       string // aggregate: "shipment"
	AggTitle  string // its Go type: "Shipment"
	Plural    string // its collection in URLs: "shipments"
	AggPlural string // the aggregate's variable in app: "Shipments"
	Module    string // the repository's module path prefix: "github.com/catga-go/catga"
	GoVersion string // the go directive of libs/catga/go.mod
}

// newSpec validates name and aggregate (default "item") and reads the
// module path and Go version from root's libs/catga/go.mod.
func newSpec(root, name, aggregate string) (spec, error) {
	if aggregate == "" {
		aggregate = "item"
	}
	if err := errors.Join(checkName("service", name), checkName("aggregate", aggregate)); err != nil {
		return spec{}, err
	}
	if reservedServices[name] {
		return spec{}, fmt.Errorf("%w: service name %q is taken by the repository (bin/catga, bin/demo, or PostgreSQL's public schema); choose another", errInvalidName, name)
	}
	if reservedAggregates[aggregate] {
		return spec{}, fmt.Errorf("%w: aggregate name %q collides with a generated identifier; choose another", errInvalidName, aggregate)
	}
	if _, err := os.Lstat(filepath.Join(root, "services", name)); err == nil {
		return spec{}, fmt.Errorf("%w: services/%s exists", errInvalidName, name)
	} else if !errors.Is(err, os.ErrNotExist) {
		return spec{}, err
	}
	mod, goVersion, err := readGoMod(filepath.Join(root, "libs", "catga", "go.mod"))
	if err != nil {
		return spec{}, err
	}
	module, ok := strings.CutSuffix(mod, "/libs/catga")
	if !ok {
		return spec{}, fmt.Errorf("catga: libs/catga/go.mod declares module %q, want <prefix>/libs/catga", mod)
	}
	plural := pluralOf(aggregate)
	return spec{
		Name: name, EnvName: strings.ToUpper(name),
		Agg: aggregate, AggTitle: title(aggregate), Plural: plural, AggPlural: title(plural),
		Module: module, GoVersion: goVersion,
	}, nil
}

// readGoMod returns a go.mod's module path and go version.
func readGoMod(path string) (module, goVersion string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("catga: not the repository's root? %w", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "module":
			module = f[1]
		case len(f) == 2 && f[0] == "go":
			goVersion = f[1]
		}
	}
	if module == "" || goVersion == "" {
		return "", "", fmt.Errorf("catga: %s: no module or go directive", path)
	}
	return module, goVersion, nil
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// pluralOf is the English plural of a lowercase noun, by the common rules;
// it names URLs and a variable only, so an odd one is harmless.
func pluralOf(s string) string {
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "z"),
		strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}
