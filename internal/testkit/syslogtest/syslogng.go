package syslogtest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const syslogNGName = "syslog-ng"

// findSyslogNG returns the syslog-ng binary and the extra arguments and
// environment it needs: the copy .ci/install-syslog-servers.sh unpacks into
// .tools/syslog-ng is not where its libraries and modules would be
// installed.
func findSyslogNG() (bin string, args, env []string) {
	if root := repoRoot(); root != "" {
		base := filepath.Join(root, ".tools", "syslog-ng")
		bin := filepath.Join(base, "usr", "sbin", "syslog-ng")
		mods, _ := filepath.Glob(filepath.Join(base, "usr", "lib", "syslog-ng", "[0-9]*"))
		if _, err := os.Stat(bin); err == nil && len(mods) > 0 {
			return bin, []string{"--module-path=" + mods[len(mods)-1]},
				[]string{"LD_LIBRARY_PATH=" + filepath.Join(base, "usr", "lib", "syslog-ng")}
		}
	}
	if p, err := exec.LookPath("syslog-ng"); err == nil {
		return p, nil, nil
	}
	return "", nil, nil
}

func newSyslogNG(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin, args, env := findSyslogNG()
	if bin == "" {
		Require(t, "syslog-ng is not installed (bash .ci/install-syslog-servers.sh unpacks it into .tools/syslog-ng)")
	}
	s := newServer(t, syslogNGName, cfg)
	conf := filepath.Join(s.dir, "syslog-ng.conf")
	if err := os.WriteFile(conf, []byte(syslogNGConfig(s)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.argv = append([]string{bin, "-F", "--no-caps", "-e", "-f", conf,
		"--persist-file=" + filepath.Join(s.dir, "syslog-ng.persist"),
		"--pidfile=" + filepath.Join(s.dir, "syslog-ng.pid"),
		"--control=" + filepath.Join(s.dir, "syslog-ng.ctl")}, args...)
	s.env = env
	return s
}

// syslogNGConfig parses with the syslog-protocol (RFC 5424) parser: the
// syslog() driver for octet-counted tcp/tls, network() with
// flags(syslog-protocol) for newline framing and udp, unix-stream() and
// unix-dgram() for the sockets. Every field goes to the output as JSON.
func syslogNGConfig(s *Server) string {
	host, port, _ := net.SplitHostPort(s.endpoint)
	tlsOpts := ""
	if s.cfg.Transport == TLS {
		verify := "optional-untrusted"
		if s.cfg.RequireClientCert {
			verify = "required-trusted"
		}
		tlsOpts = fmt.Sprintf(" tls(key-file(%q) cert-file(%q) ca-file(%q) peer-verify(%s))",
			s.cfg.TLS.ServerKey, s.cfg.TLS.ServerCertFile, s.cfg.TLS.CAFile, verify)
	}
	var src string
	switch {
	case (s.cfg.Transport == TCP || s.cfg.Transport == TLS) && s.cfg.Framing == OctetCounting:
		src = fmt.Sprintf("syslog(ip(%q) port(%s) transport(%q)%s)", host, port, s.cfg.Transport, tlsOpts)
	case s.cfg.Transport == TCP || s.cfg.Transport == TLS || s.cfg.Transport == UDP:
		src = fmt.Sprintf("network(ip(%q) port(%s) transport(%q) flags(syslog-protocol)%s)", host, port, s.cfg.Transport, tlsOpts)
	case s.cfg.Transport == Unix:
		src = fmt.Sprintf("unix-stream(%q flags(syslog-protocol))", s.endpoint)
	case s.cfg.Transport == Unixgram:
		src = fmt.Sprintf("unix-dgram(%q flags(syslog-protocol))", s.endpoint)
	}
	var b strings.Builder
	b.WriteString("@version: 3.38\n")
	b.WriteString("options { stats_freq(0); keep-hostname(yes); chain-hostnames(no); use-dns(no); dns-cache(no); " +
		"keep-timestamp(yes); log-msg-size(262144); frac-digits(6); time-zone(\"UTC\"); };\n")
	fmt.Fprintf(&b, "source s_in { %s; };\n", src)
	fmt.Fprintf(&b, "destination d_out { file(%q template(\"$(format-json "+
		"pri=${PRI} timestamp=${S_ISODATE} hostname=${HOST} app_name=${PROGRAM} procid=${PID} msgid=${MSGID} msg=${MESSAGE} "+
		"--key .SDATA.*)\\n\")); };\n", s.output)
	b.WriteString("log { source(s_in); destination(d_out); };\n")
	return b.String()
}

func parseSyslogNGLine(line []byte) (Message, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Message{}, err
	}
	str := func(k string) string { return jsonString(raw[k]) }
	pri, err := strconv.Atoi(str("pri"))
	if err != nil {
		return Message{}, fmt.Errorf("pri: %w", err)
	}
	ts, err := parseTime(str("timestamp"))
	if err != nil {
		return Message{}, err
	}
	m := Message{
		Priority:  pri,
		Timestamp: ts,
		Hostname:  nilToEmpty(str("hostname")),
		AppName:   nilToEmpty(str("app_name")),
		ProcID:    nilToEmpty(str("procid")),
		MsgID:     nilToEmpty(str("msgid")),
		Message:   str("msg"),
	}
	// format-json nests dotted names: .SDATA.data.a.b becomes
	// {"_SDATA":{"data":{"a":{"b":...}}}}. The first level is the SD-ID;
	// the levels below join back into the PARAM-NAME.
	if sd, ok := raw["_SDATA"]; ok {
		var tree map[string]any
		if err := json.Unmarshal(sd, &tree); err != nil {
			return Message{}, fmt.Errorf("_SDATA: %w", err)
		}
		m.StructuredData = map[string]map[string]string{}
		for id, params := range tree {
			out := map[string]string{}
			joinKeys("", params, out)
			m.StructuredData[id] = out
		}
	}
	return m, nil
}

func joinKeys(prefix string, v any, out map[string]string) {
	obj, ok := v.(map[string]any)
	if !ok {
		s, isStr := v.(string)
		if !isStr {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		out[prefix] = s
		return
	}
	for k, child := range obj {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		joinKeys(name, child, out)
	}
}
