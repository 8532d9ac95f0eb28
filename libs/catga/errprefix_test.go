package catga_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSentinelErrorsPrefixed keeps the library to one convention: every
// exported sentinel error (var ErrX = errors.New(...) or fmt.Errorf(...))
// in any package of the module says "catga: " first, so a log line tells
// where an error came from whichever package made it.
func TestSentinelErrorsPrefixed(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range spec.Names {
				if !strings.HasPrefix(name.Name, "Err") || i >= len(spec.Values) {
					continue
				}
				msg, ok := constructedMessage(spec.Values[i])
				if !ok {
					continue
				}
				checked++
				if !strings.HasPrefix(msg, "catga: ") {
					t.Errorf("%s: %s = %q, want the \"catga: \" prefix", fset.Position(name.Pos()), name.Name, msg)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked %d sentinels; the walk missed the library", checked)
	}
}

// constructedMessage is the message of errors.New("...") or
// fmt.Errorf("...", ...).
func constructedMessage(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) == 0 {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	if ctor := pkg.Name + "." + sel.Sel.Name; ctor != "errors.New" && ctor != "fmt.Errorf" {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
