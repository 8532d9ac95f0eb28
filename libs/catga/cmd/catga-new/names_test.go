package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // a part of the message; "" means valid
	}{
		{"shipping", ""},
		{"s3", ""},
		{"", "required"},
		{"Shipping", "lowercase identifier"},
		{"ship-ping", "lowercase identifier"},
		{"ship_ping", "lowercase identifier"},
		{"3d", "lowercase identifier"},
		{"schön", "lowercase identifier"},
		{"func", "Go keyword"},
		{"type", "Go keyword"},
		{strings.Repeat("a", maxNameLen+1), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkName("service", tt.name)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (!errors.Is(err, errInvalidName) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want errInvalidName saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestPluralOf(t *testing.T) {
	for in, want := range map[string]string{"item": "items", "box": "boxes", "batch": "batches", "parcel": "parcels",
		"delivery": "deliveries", "day": "days", "address": "addresses"} {
		if got := pluralOf(in); got != want {
			t.Errorf("pluralOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeRoot makes a directory that looks like the repository to newSpec and
// generate: libs/catga/go.mod, a go.work, deploy/compose.yaml and one
// service.
func fakeRoot(t *testing.T, goWork, compose string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range map[string]string{
		"libs/catga/go.mod":        "module example.com/repo/libs/catga\n\ngo 1.26.0\n",
		"go.work":                  goWork,
		"deploy/compose.yaml":      compose,
		"services/payment/main.go": "package main\n",
	} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const testCompose = "x-peer: &peer {}\nx-env: &peer-env {}\nservices:\n  payment:\n    image: x\n" + composeBegin + "\n" + composeEnd + "\n\nnetworks: {}\n"

func TestNewSpec(t *testing.T) {
	root := fakeRoot(t, "go 1.26.0\n", testCompose)
	s, err := newSpec(root, "shipping", "")
	if err != nil {
		t.Fatal(err)
	}
	want := spec{Name: "shipping", EnvName: "SHIPPING", Agg: "item", AggTitle: "Item", Plural: "items", AggPlural: "Items",
		Module: "example.com/repo", GoVersion: "1.26.0"}
	if s != want {
		t.Fatalf("spec = %+v, want %+v", s, want)
	}
	for _, tt := range []struct{ name, agg, wantErr string }{
		{"payment", "", "services/payment exists"},
		{"shipping", "Parcel", "aggregate name"},
		{"shipping", "new", "collides"},
		{"catga", "", "taken by the repository"},
		{"public", "", "taken by the repository"},
		{"", "", "service name is required"},
	} {
		if _, err := newSpec(root, tt.name, tt.agg); !errors.Is(err, errInvalidName) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("newSpec(%q, %q) = %v, want errInvalidName saying %q", tt.name, tt.agg, err, tt.wantErr)
		}
	}
}

func TestComposeWith(t *testing.T) {
	s := spec{Name: "shipping", EnvName: "SHIPPING"}
	got, err := composeWith([]byte(testCompose), s)
	if err != nil {
		t.Fatal(err)
	}
	entry := "  shipping:\n    <<: *peer\n    image: ${CATGA_IMAGE_SHIPPING:-catga/shipping}\n"
	if i, j := strings.Index(string(got), entry), strings.Index(string(got), composeEnd); i < 0 || i > j || i < strings.Index(string(got), composeBegin) {
		t.Fatalf("the entry is not inside the generated block:\n%s", got)
	}
	if !strings.HasSuffix(string(got), composeEnd+"\n\nnetworks: {}\n") || !strings.HasPrefix(string(got), "x-peer: &peer {}\nx-env: &peer-env {}\nservices:\n  payment:\n") {
		t.Fatalf("the rest of the file changed:\n%s", got)
	}
	if _, err := composeWith(got, s); !errors.Is(err, errCompose) || !strings.Contains(err.Error(), "already") {
		t.Fatalf("a second shipping: %v, want errCompose", err)
	}
	if _, err := composeWith([]byte("services:\n  payment: {}\n"), s); !errors.Is(err, errCompose) || !strings.Contains(err.Error(), "no generated-services block") {
		t.Fatalf("without the block: %v, want errCompose", err)
	}
	noPeer := strings.Replace(testCompose, "&peer ", "&other ", 1) // &peer-env is still there
	if _, err := composeWith([]byte(noPeer), s); !errors.Is(err, errCompose) || !strings.Contains(err.Error(), "*peer,") {
		t.Fatalf("without the anchor &peer: %v, want errCompose naming it", err)
	}
	noEnv := strings.Replace(testCompose, "&peer-env", "&other", 1)
	if _, err := composeWith([]byte(noEnv), s); !errors.Is(err, errCompose) || !strings.Contains(err.Error(), "*peer-env") {
		t.Fatalf("without the anchor &peer-env: %v, want errCompose naming it", err)
	}
}

// TestRender: every template fills, the Go files are gofmt-ed (render
// fails otherwise) and name the module, and the file names carry the
// aggregate.
// TestRenderRefusesTwoFilesOnOnePath: an aggregate named like a fixed
// file of its package would overwrite it, and the service not compile.
func TestRenderRefusesTwoFilesOnOnePath(t *testing.T) {
	for _, agg := range []string{"doc", "errors"} {
		s := spec{Name: "shipping", EnvName: "SHIPPING", Agg: agg, AggTitle: strings.ToUpper(agg[:1]) + agg[1:], Plural: agg + "s",
			AggPlural: strings.ToUpper(agg[:1]) + agg[1:] + "s", Module: "example.com/repo", GoVersion: "1.26.0"}
		if _, err := render(s); !errors.Is(err, errInvalidName) || !strings.Contains(err.Error(), "two files") {
			t.Errorf("render with aggregate %q: %v, want errInvalidName saying two files", agg, err)
		}
	}
}

func TestRender(t *testing.T) {
	s := spec{Name: "shipping", EnvName: "SHIPPING", Agg: "parcel", AggTitle: "Parcel", Plural: "parcels", AggPlural: "Parcels",
		Module: "example.com/repo", GoVersion: "1.26.0"}
	files, err := render(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"go.mod", "main.go", "Dockerfile", "README.md", "domain/parcel.go", "domain/parcel_test.go",
		"app/app.go", "ports/routes.go", "ports/nats.go", "ports/http.go", "adapters/events.go", "service/service.go", "service/component_test.go"} {
		if _, ok := files[p]; !ok {
			t.Errorf("no %s among %d files", p, len(files))
		}
	}
	for p, data := range files {
		if bytes.Contains(data, []byte(leftDelim)) || bytes.Contains(data, []byte("<no value>")) {
			t.Errorf("%s holds an unfilled template action", p)
		}
	}
	if got := string(files[".gitignore"]); !strings.HasSuffix(got, "\n/shipping\n") {
		t.Errorf(".gitignore = %q, want it to ignore the binary /shipping", got)
	}
	if !bytes.Contains(files["go.mod"], []byte("module example.com/repo/services/shipping\n")) {
		t.Errorf("go.mod:\n%s", files["go.mod"])
	}
}

// TestGenerateUndoes: when a step fails after the service was written (go
// work use, on a go.work it cannot parse), nothing is left behind: no
// directory, and go.work and compose.yaml as they were.
func TestGenerateUndoes(t *testing.T) {
	root := fakeRoot(t, "this is not a go.work\n", testCompose)
	s, err := newSpec(root, "shipping", "")
	if err != nil {
		t.Fatal(err)
	}
	err = generate(root, s)
	if err == nil || !strings.Contains(err.Error(), "go work use") {
		t.Fatalf("generate = %v, want go work use to fail", err)
	}
	if _, err := os.Stat(filepath.Join(root, "services", "shipping")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("services/shipping left behind: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "services"))
	if len(entries) != 1 {
		t.Errorf("services/ holds %d entries, want payment alone", len(entries))
	}
	for p, want := range map[string]string{"go.work": "this is not a go.work\n", "deploy/compose.yaml": testCompose} {
		if got, _ := os.ReadFile(filepath.Join(root, p)); string(got) != want {
			t.Errorf("%s = %q, want it as it was", p, got)
		}
	}
}
