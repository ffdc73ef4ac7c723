package siemformat

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCEFReadsTheSpecExample(t *testing.T) {
	// The example of "Implementing ArcSight CEF", with escapes added.
	c, err := ParseCEF(`CEF:0|security|threat\|manager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 msg=a\=b c\\d\nnext spt=1232`)
	require.NoError(t, err)
	assert.Equal(t, "threat|manager", c.Product)
	assert.Equal(t, "10", c.Severity)
	assert.Equal(t, map[string]string{"src": "10.0.0.1", "dst": "2.1.2.2", "msg": "a=b c\\d\nnext", "spt": "1232"}, c.Extension)
	assert.Equal(t, []string{"src", "dst", "msg", "spt"}, c.Keys)
}

func TestCEFRefusesWhatTheSpecForbids(t *testing.T) {
	for name, line := range map[string]string{
		"no prefix":                `LEEF:0|a|b|c|d|e|1|k=v`,
		"too few header fields":    `CEF:0|a|b|c|d|e|k=v`,
		"bad version":              `CEF:7|a|b|c|d|e|1|k=v`,
		"severity out of range":    `CEF:0|a|b|c|d|e|11|k=v`,
		"severity word unknown":    `CEF:0|a|b|c|d|e|Severe|k=v`,
		"empty signature":          `CEF:0|a|b|c||e|1|k=v`,
		"unknown header escape":    `CEF:0|a\=|b|c|d|e|1|k=v`,
		"line break in header":     "CEF:0|a\n|b|c|d|e|1|k=v",
		"unescaped = in value":     `CEF:0|a|b|c|d|e|1|k=a=b`,
		"unknown value escape":     `CEF:0|a|b|c|d|e|1|k=a\|b`,
		"raw newline in value":     "CEF:0|a|b|c|d|e|1|k=a\nb",
		"lone trailing backslash":  `CEF:0|a|b|c|d|e|1|k=a\`,
		"key with a dot":           `CEF:0|a|b|c|d|e|1|a.b=v`,
		"repeated key":             `CEF:0|a|b|c|d|e|1|k=v k=w`,
		"extension without a pair": `CEF:0|a|b|c|d|e|1|just text`,
		"empty key":                `CEF:0|a|b|c|d|e|1|=v`,
	} {
		_, err := ParseCEF(line)
		assert.Error(t, err, name)
	}
}

func TestLEEFReadsTheGuideExamples(t *testing.T) {
	l, err := ParseLEEF("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21")
	require.NoError(t, err)
	assert.Equal(t, byte('^'), l.Delimiter)
	assert.Equal(t, map[string]string{"src": "10.0.1.8", "dst": "10.0.0.5", "sev": "5", "srcPort": "81", "dstPort": "21"}, l.Attributes)

	l, err = ParseLEEF("LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5")
	require.NoError(t, err)
	assert.Equal(t, byte('\t'), l.Delimiter)
	assert.Equal(t, "192.0.2.0", l.Attributes["src"])

	l, err = ParseLEEF(`LEEF:2.0|V|P|1|E|x09|msg=a\` + "\t" + `b\\c\nd` + "\tk=a=b")
	require.NoError(t, err)
	assert.Equal(t, "a\tb\\c\nd", l.Attributes["msg"])
	assert.Equal(t, "a=b", l.Attributes["k"], "a value may hold '='")
}

func TestLEEFRefusesWhatTheGuideForbids(t *testing.T) {
	for name, line := range map[string]string{
		"bad version":           `LEEF:3.0|V|P|1|E|^|k=v`,
		"too few header fields": `LEEF:2.0|V|P|1|E`,
		"empty event id":        `LEEF:2.0|V|P|1||^|k=v`,
		"bad delimiter":         `LEEF:2.0|V|P|1|E|xZZ|k=v`,
		"delimiter too long":    `LEEF:2.0|V|P|1|E|x12345|k=v`,
		"unknown escape":        `LEEF:2.0|V|P|1|E|^|k=a\qb`,
		"raw line break":        "LEEF:2.0|V|P|1|E|^|k=a\nb",
		"pair without =":        `LEEF:2.0|V|P|1|E|^|k=v^junk`,
		"repeated key":          `LEEF:2.0|V|P|1|E|^|k=v^k=w`,
		"sev out of range":      `LEEF:2.0|V|P|1|E|^|sev=0`,
		"key not alphanumeric":  `LEEF:2.0|V|P|1|E|^|a b=v`,
		"lone backslash":        `LEEF:2.0|V|P|1|E|^|k=v\`,
	} {
		_, err := ParseLEEF(line)
		assert.Error(t, err, name)
	}
}
