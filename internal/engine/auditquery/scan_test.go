package auditquery

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// slowExtract is extract through encoding/json only.
func slowExtract(raw []byte) fields { return extractSlow(raw) }

var trickyLines = []string{
	`{"seq":1,"prev":"00","time":"2024-01-11T09:18:32.745235812Z","observed":null,"source":"sippy","event":"U","severity_number":9,"severity_text":"info","message":"quote \" and backslash \\ and \\\" and tab\t","attributes":{"action_by":"v:105532:0:1743624'22","audit.actor":"1743624'22","resource":"accounts:i_account=5:description=a\\\\","x":{"nested":["]","}"]}},"resource":{},"hash":"ab"}`,
	`{"time":null,"observed":"2024-01-11T10:18:32+01:00","source":"glassix","event":"","attributes":{"audit.action":"UserRemoved","audit.target":42,"audit.actor":true,"audit.client_address":null},"message":"\u00e9t\u00e9 \ud83d\ude00"}`,
	`{"source":"ctreplay","SOURCE":"sippy","event":"A","\u0065vent2":"B","attributes":{"audit.actor":"first","Audit.Actor":"second"},"severity_number":-3}`,
	`{"\u0073ource":"ctreplay","attributes":{"audit.\u0061ctor":"first"}}`,
	`{"seq":2,"marker":"tail_missing","time":"2024-01-11T09:18:32.000000000Z","detail":{"head_seq":9,"last_seq":7},"hash":"cd"}`,
	`{"attributes":{},"resource":{"a":[1,2,{"b":"\\","c":"}]\""}]},"message":"","severity_number":300}`,
	`{"time":"2024-02-30T09:18:32.000000000Z","message":"an impossible date"}`,
	` { "source" : "glassix" , "event" : "Spaced" } `,
}

// The fast path reads what encoding/json reads, on tricky lines and on
// every line of a generated archive.
func TestExtractFastAgreesWithEncodingJSON(t *testing.T) {
	for _, l := range trickyLines {
		require.True(t, json.Valid([]byte(l)), l)
		fast, ok := extractFast([]byte(l))
		require.True(t, ok, l)
		assert.Equal(t, slowExtract([]byte(l)), fast, l)
	}
	path := genArchive(t, t.TempDir(), 500, 0)
	for _, l := range readLines(t, path) {
		fast, ok := extractFast([]byte(l))
		require.True(t, ok)
		assert.Equal(t, slowExtract([]byte(l)), fast)
	}
}

func FuzzExtractFast(f *testing.F) {
	for _, l := range trickyLines {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if jsonpolicy.Check(raw, jsonpolicy.MaxDepth) != nil {
			return // never read: the archive reader finds the line malformed
		}
		fast, ok := extractFast(raw)
		if !ok {
			return // the caller falls back to encoding/json
		}
		slow := slowExtract(raw)
		if slow.ok {
			assert.Equal(t, slow, fast)
		}
	})
}

func TestFoldNeedle(t *testing.T) {
	tests := []struct {
		needle, a, sep, b string
		want              bool
	}{
		{"admin", "MAIN_ADMIN", "", "", true},
		{"U acc", "U", " ", "accounts:i_account=5", true},
		{"u ACCOUNTS:I", "U", " ", "accounts:i_account=5", true},
		{"i_account=5", "U", " ", "accounts:i_account=5", true},
		{"u  acc", "U", " ", "accounts", false},
		{"été", "Rapport ÉTÉ", "", "", true},
		{"x", "", "", "", false},
		{"", "anything", "", "", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, newFoldNeedle(tt.needle).inParts(tt.a, tt.sep, tt.b), "%q in %q%q%q", tt.needle, tt.a, tt.sep, tt.b)
	}
}
