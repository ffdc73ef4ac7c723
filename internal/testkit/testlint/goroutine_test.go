package testlint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testingNames are the names this repository gives a *testing.T, *testing.B
// or testing.TB; the check goes by name so that it needs no type checking.
var testingNames = map[string]bool{"t": true, "b": true, "tb": true}

// goroutineSafe are the testing.TB methods that may be called from a
// goroutine the test spawned: they record, they do not stop the goroutine.
var goroutineSafe = map[string]bool{"Error": true, "Errorf": true, "Log": true, "Logf": true, "Helper": true, "Name": true, "Failed": true}

// A FailNow (require.*, t.Fatal, t.Skip, or a helper given t that may call
// them) in a goroutine the test spawned ends that goroutine only: the test
// goroutine then waits for a result that never comes and the test hangs
// until the global timeout instead of failing. Goroutines a test spawns may
// use t only through assert.* and t.Error/t.Log, or send their errors back.
func TestSpawnedGoroutinesDoNotStopTheTest(t *testing.T) {
	root := moduleRoot(t)
	var problems []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		found, err := spawnedFailNows(path)
		if err != nil {
			return err
		}
		for _, f := range found {
			rel, _ := filepath.Rel(root, f.pos.Filename)
			problems = append(problems, fmt.Sprintf("%s:%d: %s in a goroutine the test spawned", rel, f.pos.Line, f.what))
		}
		return nil
	})
	require.NoError(t, err)
	if len(problems) > 0 {
		t.Errorf("a failure there would hang the test instead of failing it:\n%s", strings.Join(problems, "\n"))
	}
}

// The check itself finds what it is meant to find, and lets pass what is
// safe.
func TestTheCheckFindsFailNowsInGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sample_test.go")
	require.NoError(t, os.WriteFile(path, []byte(`package sample

func TestSample(t *testing.T) {
	done := make(chan int)
	go func() { require.NoError(t, nil) }()           // line 5
	go func() { t.Fatal("x") }()                      // line 6
	go func() { done <- helper(t) }()                 // line 7
	post := func() { require.True(t, false) }
	go func() { post() }()                            // line 9: through a closure
	b.RunParallel(func(pb *testing.PB) { b.FailNow() }) // line 10
	go func() { assert.NoError(t, nil); t.Errorf("ok") }()
	go func() { done <- 1 }()
	require.NoError(t, nil)
}
`), 0o600))
	found, err := spawnedFailNows(path)
	require.NoError(t, err)
	var lines []string
	for _, f := range found {
		lines = append(lines, fmt.Sprintf("%d: %s", f.pos.Line, f.what))
	}
	assert.Equal(t, []string{
		"5: require.NoError(t, ...)",
		"6: t.Fatal",
		"7: helper(t, ...)",
		"8: require.True(t, ...)",
		"10: b.FailNow",
	}, lines)
}

type finding struct {
	pos  token.Position
	what string
}

// spawnedFailNows parses one test file and reports every use of t that may
// stop a goroutine the test spawned (a go statement or a RunParallel body),
// following local closures the goroutine calls.
func spawnedFailNows(path string) ([]finding, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, err
	}
	var found []finding
	seen := map[token.Pos]bool{}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		closures := map[string]*ast.FuncLit{}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, lhs := range as.Lhs {
					if id, ok := lhs.(*ast.Ident); ok {
						if lit, ok := as.Rhs[i].(*ast.FuncLit); ok {
							closures[id.Name] = lit
						}
					}
				}
			}
			return true
		})
		var check func(n ast.Node, visited map[*ast.FuncLit]bool)
		check = func(n ast.Node, visited map[*ast.FuncLit]bool) {
			ast.Inspect(n, func(m ast.Node) bool {
				call, ok := m.(*ast.CallExpr)
				if !ok {
					return true
				}
				if id, ok := call.Fun.(*ast.Ident); ok {
					if lit := closures[id.Name]; lit != nil && !visited[lit] {
						visited[lit] = true
						check(lit.Body, visited)
					}
				}
				if what := failNow(call); what != "" && !seen[call.Pos()] {
					seen[call.Pos()] = true
					found = append(found, finding{fset.Position(call.Pos()), what})
				}
				return true
			})
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.GoStmt:
				check(s.Call, map[*ast.FuncLit]bool{})
			case *ast.CallExpr:
				if sel, ok := s.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "RunParallel" {
					for _, a := range s.Args {
						check(a, map[*ast.FuncLit]bool{})
					}
				}
			}
			return true
		})
	}
	return found, nil
}

// failNow describes call if it may stop the calling goroutine through a
// testing.TB, or returns "".
func failNow(call *ast.CallExpr) string {
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
		if x, ok := sel.X.(*ast.Ident); ok {
			switch {
			case x.Name == "assert":
				return "" // records the failure and returns
			case x.Name == "require" && len(call.Args) > 0 && isTestingName(call.Args[0]):
				return fmt.Sprintf("require.%s(%s, ...)", sel.Sel.Name, call.Args[0].(*ast.Ident).Name)
			case testingNames[x.Name] && !goroutineSafe[sel.Sel.Name]:
				return x.Name + "." + sel.Sel.Name
			}
		}
	}
	for _, a := range call.Args {
		if isTestingName(a) {
			return fmt.Sprintf("%s(%s, ...)", callee(call.Fun), a.(*ast.Ident).Name)
		}
	}
	return ""
}

func isTestingName(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && testingNames[id.Name]
}

func callee(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return callee(f.X) + "." + f.Sel.Name
	default:
		return "func"
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test")
		dir = parent
	}
}
