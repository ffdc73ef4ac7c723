// Package web is the viewer's page: one HTML file, its script and its
// style sheet, embedded in the binary (no build step, nothing fetched from
// elsewhere: the page must work on a machine without internet access).
package web // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/web"

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page at / and its files beside it.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}
