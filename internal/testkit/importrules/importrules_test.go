// Package importrules checks the layering ARCHITECTURE.md describes
// ("Packages and what may import what") against the module's real imports,
// as `go list` reports them.
package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/otelcol-audit/otelcol-audit"

type layer int

const (
	tooling layer = iota
	component
	engine
	vendor
	base
)

func (l layer) String() string {
	return [...]string{"tooling", "component", "engine", "vendor", "base"}[l]
}

// layerOf places a package path (relative to the module) in its layer.
func layerOf(rel string) layer {
	seg := strings.Split(rel, "/")
	for _, s := range seg {
		if strings.HasSuffix(s, "test") || s == "testutil" || s == "testkit" {
			return tooling
		}
	}
	switch seg[0] {
	case "bench", "e2e", "examples":
		return tooling
	case "receiver", "processor", "exporter", "extension", "cmd":
		return component
	}
	if len(seg) >= 2 && seg[0] == "internal" {
		switch seg[1] {
		case "engine":
			return engine
		case "vendors":
			return vendor
		}
	}
	return base
}

// componentOf returns the component a component package belongs to
// ("receiver/auditwebhookreceiver").
func componentOf(rel string) string {
	seg := strings.Split(rel, "/")
	return strings.Join(seg[:min(2, len(seg))], "/")
}

// allowed reports whether package from may import package to (both
// relative to the module), and why not.
func allowed(from, to string) (bool, string) {
	lf, lt := layerOf(from), layerOf(to)
	switch {
	case lf == tooling:
		return true, ""
	case lt == tooling:
		return false, "production code imports tooling"
	case lt == component && lf == component && componentOf(from) != componentOf(to):
		return false, "a component imports another component"
	case lt == component && lf != component:
		return false, "an import runs upward to a component"
	case lf == engine && lt == vendor && to != "internal/vendors/registry" && to != "internal/vendors":
		return false, "an engine reaches a vendor other than through the registry"
	case lf == vendor && lt == engine:
		return false, "a vendor imports an engine"
	case lf == base && lt != base:
		return false, "the base layer imports " + lt.String() + " code"
	}
	return true, ""
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T, tags string) []pkg {
	t.Helper()
	args := []string{"list", "-json", "-tags", tags, module + "/..."}
	cmd := exec.Command("go", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func TestImportsFollowTheLayers(t *testing.T) {
	checked := 0
	for _, p := range listPackages(t, "e2e") {
		from, ok := rel(p.ImportPath)
		require.True(t, ok, p.ImportPath)
		// Test files are tooling wherever they live.
		for _, imp := range p.Imports {
			to, ours := rel(imp)
			if !ours {
				continue
			}
			checked++
			if ok, why := allowed(from, to); !ok {
				t.Errorf("%s imports %s: %s", from, to, why)
			}
		}
	}
	require.Positive(t, checked, "no import of the module's own packages was checked")
}

// The rules themselves, on known cases, so that a change to layerOf that
// lets everything through is caught.
func TestRules(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		ok       bool
	}{
		{"receiver/auditwebhookreceiver", "internal/vendors/glassix", true},
		{"processor/auditlogprocessor/internal/normalize", "internal/vendors/registry", true},
		{"extension/auditviewerextension", "internal/engine/auditquery", true},
		{"internal/engine/auditquery", "internal/vendors/registry", true},
		{"internal/testkit/auditquerytest", "processor/auditlogprocessor", true},
		{"receiver/auditwebhookreceiver", "receiver/auditwebhookreceiver/internal/inflight", true},
		{"internal/engine/auditquery", "processor/auditlogprocessor", false},
		{"internal/engine/auditquery", "internal/vendors/sippy", false},
		{"receiver/auditwebhookreceiver", "internal/testkit/syslogtest", false},
		{"receiver/auditwebhookreceiver", "internal/vendors/vendortest", false},
		{"exporter/rfc5424exporter", "processor/auditlogprocessor", false},
		{"internal/vendors/sippy", "internal/engine/archive", false},
		{"internal/flatten", "internal/vendors", false},
		{"internal/flatten", "internal/jsonmap", true},
	} {
		ok, why := allowed(tt.from, tt.to)
		require.Equal(t, tt.ok, ok, "%s -> %s (%s)", tt.from, tt.to, why)
	}
}
