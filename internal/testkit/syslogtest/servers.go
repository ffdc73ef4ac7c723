package syslogtest

import (
	"testing"
)

// Kind names a syslog server implementation.
type Kind string

// The servers this package runs.
const (
	Rsyslog  Kind = rsyslogName
	SyslogNG Kind = syslogNGName
)

// Kinds lists every server, for table-driven tests.
var Kinds = []Kind{Rsyslog, SyslogNG}

// Supports reports whether the server can receive over transport with
// framing (framing is ignored for datagram transports). rsyslog has no unix
// stream socket input; syslog-ng reads octet-counted frames only on tcp and
// tls, and has no RELP input.
func (k Kind) Supports(transport, framing string) bool {
	switch {
	case k == Rsyslog && transport == Unix:
		return false
	case k == SyslogNG && transport == Unix && framing == OctetCounting:
		return false
	case k == SyslogNG && transport == RELP:
		return false
	}
	return true
}

// Start starts a server of kind k, waits until it accepts messages, and
// stops it when the test ends. A missing server program skips or fails the
// test (see Require); asking for a combination the server does not support
// (see Supports) fails it.
func Start(t testing.TB, k Kind, cfg Config) *Server {
	t.Helper()
	if !k.Supports(cfg.Transport, cfg.Framing) {
		t.Fatalf("%s cannot receive over %s with %s framing", k, cfg.Transport, cfg.Framing)
	}
	var s *Server
	switch k {
	case Rsyslog:
		s = newRsyslog(t, cfg)
	case SyslogNG:
		s = newSyslogNG(t, cfg)
	default:
		t.Fatalf("unknown syslog server %q", k)
	}
	s.Start()
	return s
}
