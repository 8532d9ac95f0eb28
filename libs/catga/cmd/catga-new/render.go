package main

import (
	"bytes"
	"embed"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"strings"
	"text/template"
)

// templates/ is a service's tree: each file, its name without ".tmpl",
// with "AGG" replaced by the aggregate's name and a leading "dot-" by ".",
// is written under
// services/<name>/. fragments/ are pieces of shared files (compose.yaml).
//
//go:embed templates fragments
var templateFS embed.FS

// The delimiters are not Go's {{ }}, which table tests use.
const leftDelim, rightDelim = "[[", "]]"

// render fills every template of templates/ with s and returns the files by
// their path under the service's directory. Go files are gofmt-ed, so a
// template that does not parse is an error here, not in the new service.
func render(s spec) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out, err := renderFile(p, s)
		if err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".tmpl")
		base := strings.ReplaceAll(path.Base(rel), "AGG", s.Agg)
		if b, ok := strings.CutPrefix(base, "dot-"); ok {
			base = "." + b // embed leaves out dot files
		}
		rel = path.Join(path.Dir(rel), base)
		if strings.HasSuffix(rel, ".go") {
			if out, err = format.Source(out); err != nil {
				return fmt.Errorf("catga: template %s makes Go that does not parse: %w", p, err)
			}
		}
		if _, dup := files[rel]; dup {
			// The aggregate's file took the name of a fixed one (domain/doc.go).
			return fmt.Errorf("%w: aggregate name %q makes two files %s; choose another", errInvalidName, s.Agg, rel)
		}
		files[rel] = out
		return nil
	})
	return files, err
}

// renderFile fills the template at p (a path in templateFS) with s.
func renderFile(p string, s spec) ([]byte, error) {
	src, err := templateFS.ReadFile(p)
	if err != nil {
		return nil, err
	}
	t, err := template.New(path.Base(p)).Delims(leftDelim, rightDelim).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("catga: template %s: %w", p, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("catga: template %s: %w", p, err)
	}
	return b.Bytes(), nil
}
