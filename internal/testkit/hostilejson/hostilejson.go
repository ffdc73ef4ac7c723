// Package hostilejson is one table of JSON that breaks (or tests the edge
// of) the project's JSON rule, internal/jsonpolicy. The tests of every
// reader and writer of vendor JSON and archive lines feed the same table to
// their path and check that it applies the rule.
package hostilejson // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"

import (
	"fmt"
	"strings"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// Outcome is what the rule makes of a case.
type Outcome int

const (
	// OK: the text follows the rule.
	OK Outcome = iota
	// DuplicateKey: an object names a member twice.
	DuplicateKey
	// InvalidUTF8: a string holds invalid UTF-8 or a lone surrogate.
	InvalidUTF8
	// Syntax: not JSON.
	Syntax
	// Limit: nested beyond the bound.
	Limit
)

// Kind is the jsonpolicy.ErrorKind of a break (meaningless for OK).
func (o Outcome) Kind() jsonpolicy.ErrorKind {
	switch o {
	case DuplicateKey:
		return jsonpolicy.DuplicateKey
	case InvalidUTF8:
		return jsonpolicy.InvalidUTF8
	case Limit:
		return jsonpolicy.Limit
	default:
		return jsonpolicy.Syntax
	}
}

func (o Outcome) String() string {
	return [...]string{"ok", "duplicate key", "invalid UTF-8", "syntax", "limit"}[o]
}

// Depth is the nesting of the deep case: beyond every bound the project
// sets (32 levels).
const Depth = 100

// Case is one hostile input. A path builds its own text (a vendor event, an
// archive line) and puts the case's members into its top-level object;
// Members names the member the path reads (action, source, audit.actor) so
// that a repeat is one a reader would have to choose between.
type Case struct {
	Name string
	// Members returns object members, without surrounding commas.
	Members func(name string) string
	// Prefix and Suffix go around the whole text.
	Prefix, Suffix string
	Want           Outcome
	// Value is what a reader finds in member name: for OK, the value
	// itself; for InvalidUTF8, the value with U+FFFD in place of each bad
	// byte or escape (vendor input is kept that way and flagged). Empty
	// when the case does not touch name's value.
	Value string
}

// LeadingBOM reports whether the case is a byte order mark before the
// text, which vendor paths skip (RFC 8259 allows it) and archive readers
// refuse.
func (c Case) LeadingBOM() bool { return c.Prefix == BOM }

// BOM is the UTF-8 byte order mark.
const BOM = "\xef\xbb\xbf"

// EscapeFirst spells name with its first character as a \u escape: the
// same name to a reader that unescapes, another spelling to one that does
// not.
func EscapeFirst(name string) string {
	return fmt.Sprintf(`\u%04x`, name[0]) + name[1:]
}

// Cases is the table.
var Cases = []Case{
	{Name: "duplicate key at top level", Want: DuplicateKey,
		Members: func(n string) string { return fmt.Sprintf(`%q:"first",%q:"second"`, n, n) }},
	{Name: "duplicate key nested", Want: DuplicateKey,
		Members: func(n string) string { return fmt.Sprintf(`%q:"v","nested":{"k":1,"x":true,"k":2}`, n) }},
	{Name: "duplicate key in an object in an array", Want: DuplicateKey,
		Members: func(n string) string { return fmt.Sprintf(`%q:"v","list":[1,{"k":1,"k":1}]`, n) }},
	{Name: "duplicate key spelled with an escape", Want: DuplicateKey,
		Members: func(n string) string { return fmt.Sprintf(`%q:"first","%s":"second"`, n, EscapeFirst(n)) }},
	{Name: "names differing in case are not duplicates", Want: OK, Value: "first",
		Members: func(n string) string { return fmt.Sprintf(`%q:"first",%q:"second"`, n, strings.ToUpper(n)) }},
	{Name: "invalid UTF-8 in a value", Want: InvalidUTF8, Value: "a\uFFFDb\uFFFD",
		Members: func(n string) string { return fmt.Sprintf(`%q:"a`+"\xff"+`b`+"\xc3"+`"`, n) }},
	{Name: "invalid UTF-8 in a key", Want: InvalidUTF8,
		Members: func(n string) string { return fmt.Sprintf(`%q:"v","k`+"\xfe"+`":"w"`, n) }},
	{Name: "lone high surrogate", Want: InvalidUTF8, Value: "x\uFFFDy",
		Members: func(n string) string { return fmt.Sprintf(`%q:"x\ud800y"`, n) }},
	{Name: "lone low surrogate", Want: InvalidUTF8, Value: "\uFFFD",
		Members: func(n string) string { return fmt.Sprintf(`%q:"\udc00"`, n) }},
	{Name: "surrogate pair", Want: OK, Value: "\U0001F600",
		Members: func(n string) string { return fmt.Sprintf(`%q:"\ud83d\ude00"`, n) }},
	{Name: "escaped NUL is kept", Want: OK, Value: "a\x00b",
		Members: func(n string) string { return fmt.Sprintf(`%q:"a\u0000b"`, n) }},
	{Name: "raw NUL in a string", Want: Syntax,
		Members: func(n string) string { return fmt.Sprintf(`%q:"a`+"\x00"+`b"`, n) }},
	{Name: "deep nesting", Want: Limit,
		Members: func(n string) string {
			return fmt.Sprintf(`%q:"v","deep":%s%s`, n, strings.Repeat("[", Depth), strings.Repeat("]", Depth))
		}},
	{Name: "byte order mark", Want: Syntax, Prefix: BOM,
		Members: func(n string) string { return fmt.Sprintf(`%q:"v"`, n) }},
	{Name: "trailing garbage", Want: Syntax, Suffix: ` x`,
		Members: func(n string) string { return fmt.Sprintf(`%q:"v"`, n) }},
}

// ArchiveBody is the body of an archive line (what the writer seals
// between prev and hash) carrying the case's members at the top level,
// where readers take "source" from, and in the attributes, where they take
// "audit.actor" from. Prefix and Suffix are not applied: they go around a
// whole sealed line.
func ArchiveBody(c Case) []byte {
	return []byte(`"time":"2024-01-11T09:18:32.745235800Z","observed":null,` + c.Members("source") +
		`,"event":"UserRemoved","severity_number":13,"severity_text":"warning","message":"m","attributes":{` +
		c.Members("audit.actor") + `},"resource":{}`)
}
