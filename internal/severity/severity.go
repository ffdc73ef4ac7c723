// Package severity is the one place where OpenTelemetry severity numbers and
// syslog severities (RFC 5424, section 6.2.1) are mapped onto each other. The
// auditlog processor classifies events into syslog levels and stores them as
// OTel severity; the rfc5424 exporter turns OTel severity back into the PRI.
// The table below is what the READMEs refer to.
//
//	syslog level      code  OTel number set   OTel numbers mapped back
//	emerg             0     24 FATAL4         24
//	alert             1     23 FATAL3         23
//	crit              2     22 FATAL2         21-22
//	err               3     17 ERROR          17-20
//	warning           4     13 WARN           13-16
//	notice            5     10 INFO2          10-12
//	info              6      9 INFO            9, and 0 (unspecified)
//	debug             7      5 DEBUG           1-8
//
// The forward mapping is the one contrib's syslog receiver uses, so records
// from that receiver and from ours classify the same way.
package severity // import "github.com/otelcol-audit/otelcol-audit/internal/severity"

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Level is a syslog severity, 0 (emerg) to 7 (debug).
type Level uint8

// The syslog severities of RFC 5424, section 6.2.1.
const (
	Emerg Level = iota
	Alert
	Crit
	Err
	Warning
	Notice
	Info
	Debug
)

var names = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// String returns the level's syslog keyword: "notice", "warning", ...
func (l Level) String() string {
	if int(l) < len(names) {
		return names[l]
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// aliases are the other spellings users and vendors write: winston's and
// npm's level names, OTel's severity texts.
var aliases = map[string]Level{
	"emergency": Emerg, "panic": Emerg, "fatal": Crit, "critical": Crit,
	"error": Err, "warn": Warning, "informational": Info, "information": Info,
	"verbose": Debug, "silly": Debug, "trace": Debug,
}

// Parse reads a level name, case-insensitively: the syslog keywords, the
// aliases above, or a digit 0-7.
func Parse(s string) (Level, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for i, n := range names {
		if k == n {
			return Level(i), nil
		}
	}
	if l, ok := aliases[k]; ok {
		return l, nil
	}
	if len(k) == 1 && k[0] >= '0' && k[0] <= '7' {
		return Level(k[0] - '0'), nil
	}
	return 0, fmt.Errorf("unknown severity %q: want one of %s", s, strings.Join(names[:], ", "))
}

var toOTel = [...]plog.SeverityNumber{
	Emerg:   plog.SeverityNumberFatal4,
	Alert:   plog.SeverityNumberFatal3,
	Crit:    plog.SeverityNumberFatal2,
	Err:     plog.SeverityNumberError,
	Warning: plog.SeverityNumberWarn,
	Notice:  plog.SeverityNumberInfo2,
	Info:    plog.SeverityNumberInfo,
	Debug:   plog.SeverityNumberDebug,
}

// OTel returns the severity number a record of this level carries. Its
// severity text is String().
func (l Level) OTel() plog.SeverityNumber {
	if int(l) < len(toOTel) {
		return toOTel[l]
	}
	return plog.SeverityNumberInfo
}

// FromOTel maps a record's severity number to a syslog level; see the table
// in the package comment. Unspecified (0) is Info.
func FromOTel(n plog.SeverityNumber) Level {
	switch {
	case n == plog.SeverityNumberUnspecified:
		return Info
	case n <= plog.SeverityNumberDebug4:
		return Debug
	case n == plog.SeverityNumberInfo:
		return Info
	case n <= plog.SeverityNumberInfo4:
		return Notice
	case n <= plog.SeverityNumberWarn4:
		return Warning
	case n <= plog.SeverityNumberError4:
		return Err
	case n <= plog.SeverityNumberFatal2:
		return Crit
	case n == plog.SeverityNumberFatal3:
		return Alert
	default:
		return Emerg
	}
}

// Set stores level l on a record as its severity number and text.
func Set(r plog.LogRecord, l Level) {
	r.SetSeverityNumber(l.OTel())
	r.SetSeverityText(l.String())
}
