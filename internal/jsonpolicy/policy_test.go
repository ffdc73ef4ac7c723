package jsonpolicy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const depth = 32

func kindOf(t *testing.T, err error) jsonpolicy.ErrorKind {
	t.Helper()
	var pe *jsonpolicy.Error
	require.True(t, errors.As(err, &pe), "error %v is a *jsonpolicy.Error", err)
	return pe.Kind
}

func TestCheckHostileTable(t *testing.T) {
	for _, c := range hostilejson.Cases {
		t.Run(c.Name, func(t *testing.T) {
			text := c.Prefix + `{"seq":1,` + c.Members("source") + `}` + c.Suffix
			err := jsonpolicy.Check([]byte(text), depth)
			if c.Want == hostilejson.OK {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, c.Want.Kind(), kindOf(t, err), "%v", err)
		})
	}
}

// The rule is json.Valid plus names and strings: on text json.Valid
// refuses, Check refuses too.
func TestCheckAgreesWithJSONValidOnSyntax(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `01`, `1.`, `-`, `1e`, `.5`,
		`tru`, `nul`, `"\x"`, `"\u12"`, `"abc`, `{"a":1}}`, `{,}`, `{"a" 1}`, `[`, `"a` + "\t" + `"`,
	} {
		assert.False(t, json.Valid([]byte(in)), "%q", in)
		err := jsonpolicy.Check([]byte(in), depth)
		if assert.Error(t, err, "%q", in) {
			assert.Equal(t, jsonpolicy.Syntax, kindOf(t, err), "%q: %v", in, err)
		}
	}
	for _, in := range []string{
		`0`, `-0.5e+10`, `"\/\b\f\n\r\t\"\\"`, `{"a":[1,{"b":null}],"c":{}}`, `[]`, ` true `, `"é😀"`,
		`{"b":1,"a":2,"c":3}`, `{"\u00e9":1,"é2":2}`,
	} {
		assert.NoError(t, jsonpolicy.Check([]byte(in), depth), "%q", in)
	}
}

func TestCheckDuplicatesInLargeAndUnsortedObjects(t *testing.T) {
	// Sorted names (as the archive writes attributes), then the same names
	// reversed, past the size where a set takes over.
	var sorted, reversed []string
	for i := range 100 {
		sorted = append(sorted, fmt.Sprintf(`"k%03d":%d`, i, i))
	}
	for i := len(sorted) - 1; i >= 0; i-- {
		reversed = append(reversed, sorted[i])
	}
	for name, members := range map[string][]string{"sorted": sorted, "reversed": reversed} {
		obj := "{" + strings.Join(members, ",") + "}"
		assert.NoError(t, jsonpolicy.Check([]byte(obj), depth), name)
		for _, at := range []int{0, 31, 32, 33, 99} {
			dup := append(append([]string{}, members...), members[at])
			err := jsonpolicy.Check([]byte("{"+strings.Join(dup, ",")+"}"), depth)
			if assert.Error(t, err, "%s, repeat of member %d", name, at) {
				assert.Equal(t, jsonpolicy.DuplicateKey, kindOf(t, err))
			}
		}
	}
	// A repeat after the order breaks, and names that differ only in the
	// escapes of a later character.
	err := jsonpolicy.Check([]byte(`{"a":1,"c":2,"b":3,"c":4}`), depth)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `duplicate key "c"`)
	err = jsonpolicy.Check([]byte(`{"ab\n":1,"a\u0062\u000a":2}`), depth)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `duplicate key "ab\n"`)
	// Same names in sibling objects are no repeat.
	assert.NoError(t, jsonpolicy.Check([]byte(`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`), depth))
}

func TestCheckDepth(t *testing.T) {
	nest := func(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }
	assert.NoError(t, jsonpolicy.Check(nest(depth), depth))
	err := jsonpolicy.Check(nest(depth+1), depth)
	require.Error(t, err)
	assert.Equal(t, jsonpolicy.Limit, kindOf(t, err))
	// Hostile depth costs no stack beyond the bound.
	require.Error(t, jsonpolicy.Check(nest(1_000_000), depth))
}

func TestCheckSaysWhere(t *testing.T) {
	err := jsonpolicy.Check([]byte(`{"a":"x`+"\xff"+`"}`), depth)
	require.Error(t, err)
	assert.Equal(t, `invalid UTF-8 byte 0xff in string (byte 7)`, err.Error())
	err = jsonpolicy.Check([]byte(`{"a":"\ud800\u0041"}`), depth)
	require.Error(t, err)
	assert.Equal(t, `lone surrogate \ud800 in string (byte 6)`, err.Error())
	err = jsonpolicy.Check([]byte(`{"a":1,"a":2}`), depth)
	require.Error(t, err)
	assert.Equal(t, `duplicate key "a" (byte 7)`, err.Error())
}

func FuzzCheck(f *testing.F) {
	for _, c := range hostilejson.Cases {
		f.Add([]byte(c.Prefix + "{" + c.Members("a") + "}" + c.Suffix))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := jsonpolicy.Check(data, depth)
		if err == nil && !json.Valid(data) {
			t.Fatalf("Check accepted %q, which json.Valid refuses", data)
		}
		if err != nil && json.Valid(data) && kindOf(t, err) == jsonpolicy.Syntax {
			t.Fatalf("Check calls valid JSON %q a syntax error: %v", data, err)
		}
	})
}

func TestScanNumber(t *testing.T) {
	for _, tc := range []struct {
		in       string
		end      int
		expected string
	}{
		{"0", 1, ""},
		{"-12.5e+3,", 8, ""},
		{"123]", 3, ""},
		{"01", 1, ""}, // the number is 0; the caller finds the stray 1
		{"-", 1, "a digit in number"},
		{"1.", 2, "a digit after decimal point"},
		{"1.e5", 2, "a digit after decimal point"},
		{"1e", 2, "a digit in exponent"},
		{"1e+", 3, "a digit in exponent"},
		{"+1", 0, "a digit in number"},
	} {
		end, expected := jsonpolicy.ScanNumber([]byte(tc.in), 0)
		assert.Equal(t, tc.end, end, tc.in)
		assert.Equal(t, tc.expected, expected, tc.in)
	}
}
