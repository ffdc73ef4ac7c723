package syslogtest

import (
	"bytes"
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

const rsyslogName = "rsyslog"

func findRsyslogd() string {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
		return "/usr/sbin/rsyslogd"
	}
	return ""
}

func newRsyslog(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := findRsyslogd()
	if bin == "" {
		Require(t, "rsyslogd is not installed (bash .ci/install-syslog-servers.sh installs it)")
	}
	if cfg.Transport == RELP && !haveImrelp(bin) {
		Require(t, "rsyslog's imrelp module is not installed (bash .ci/install-syslog-servers.sh installs rsyslog-relp)")
	}
	s := newServer(t, rsyslogName, cfg)
	conf := filepath.Join(s.dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(rsyslogConfig(s)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.argv = []string{bin, "-n", "-f", conf, "-i", filepath.Join(s.dir, "rsyslogd.pid")}
	return s
}

// haveImrelp looks for imrelp.so where Debian and other distributions put
// rsyslog's modules.
func haveImrelp(bin string) bool {
	dirs, _ := filepath.Glob("/usr/lib*/*/rsyslog")
	dirs = append(dirs, "/usr/lib/rsyslog", "/usr/lib64/rsyslog", filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "rsyslog"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "imrelp.so")); err == nil {
			return true
		}
	}
	return false
}

// rsyslogConfig parses with the default RFC 5424 parser and mmpstrucdata,
// and writes the parsed fields as JSON (the $! tree).
func rsyslogConfig(s *Server) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global(workDirectory=%q maxMessageSize="256k"
  parser.escapeControlCharactersOnReceive="off"
  parser.dropTrailingLFOnReception="off"`, s.dir)
	if s.cfg.Transport == TLS {
		fmt.Fprintf(&b, `
  defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q`,
			s.cfg.TLS.CAFile, s.cfg.TLS.ServerCertFile, s.cfg.TLS.ServerKey)
	}
	b.WriteString(")\nmodule(load=\"mmpstrucdata\")\n")
	host, port, _ := net.SplitHostPort(s.endpoint)
	switch s.cfg.Transport {
	case TCP:
		b.WriteString("module(load=\"imtcp\")\n")
		fmt.Fprintf(&b, "input(type=\"imtcp\" address=%q port=%q ruleset=\"in\")\n", host, port)
	case TLS:
		auth := "anon"
		if s.cfg.RequireClientCert {
			auth = "x509/certvalid"
		}
		fmt.Fprintf(&b, "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=%q)\n", auth)
		fmt.Fprintf(&b, "input(type=\"imtcp\" address=%q port=%q ruleset=\"in\")\n", host, port)
	case UDP:
		b.WriteString("module(load=\"imudp\")\n")
		fmt.Fprintf(&b, "input(type=\"imudp\" address=%q port=%q ruleset=\"in\")\n", host, port)
	case RELP:
		b.WriteString("module(load=\"imrelp\")\n")
		fmt.Fprintf(&b, "input(type=\"imrelp\" address=%q port=%q ruleset=\"in\" maxDataSize=\"256k\"", host, port)
		if s.cfg.TLS != nil {
			fmt.Fprintf(&b, " tls=\"on\" tls.caCert=%q tls.myCert=%q tls.myPrivKey=%q", s.cfg.TLS.CAFile, s.cfg.TLS.ServerCertFile, s.cfg.TLS.ServerKey)
			if s.cfg.RequireClientCert {
				b.WriteString(" tls.authMode=\"certvalid\"")
			}
		}
		b.WriteString(")\n")
	case Unixgram:
		// The special parser assumes a local program's message without a
		// hostname; the regular chain parses RFC 5424 as sent.
		b.WriteString("module(load=\"imuxsock\" sysSock.use=\"off\")\n")
		fmt.Fprintf(&b, "input(type=\"imuxsock\" socket=%q useSpecialParser=\"off\" parseHostname=\"on\" ignoreTimestamp=\"off\" rateLimit.interval=\"0\" ruleset=\"in\")\n", s.endpoint)
	}
	direct := ""
	if s.cfg.Direct {
		direct = ` queue.type="Direct"`
	}
	fmt.Fprintf(&b, `template(name="ts" type="string" string="%%timereported:::date-rfc3339%%")
template(name="json" type="string" string="%%$!%%\n")
ruleset(name="in"%s) {
  action(type="mmpstrucdata" sd_name.lowercase="off")
  set $!pri = $pri;
  set $!timestamp = exec_template("ts");
  set $!hostname = $hostname;
  set $!app_name = $app-name;
  set $!procid = $procid;
  set $!msgid = $msgid;
  set $!msg = $msg;
  action(type="omfile" file=%q template="json")
  action(type="omfile" file=%q template="RSYSLOG_SyslogProtocol23Format")
}
`, direct, s.output, s.RawLogPath())
	return b.String()
}

// RawLogPath is where rsyslog also stores every message as a SIEM's log
// file would: one RFC 5424 message per line (its
// RSYSLOG_SyslogProtocol23Format template).
func (s *Server) RawLogPath() string { return filepath.Join(s.dir, "raw.log") }

func parseRsyslogLine(line []byte) (Message, error) {
	var raw struct {
		SD        json.RawMessage `json:"rfc5424-sd"`
		Pri       json.RawMessage `json:"pri"`
		Timestamp string          `json:"timestamp"`
		Hostname  string          `json:"hostname"`
		AppName   string          `json:"app_name"`
		ProcID    string          `json:"procid"`
		MsgID     string          `json:"msgid"`
		Msg       string          `json:"msg"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return Message{}, err
	}
	pri, err := strconv.Atoi(jsonString(raw.Pri))
	if err != nil {
		return Message{}, fmt.Errorf("pri: %w", err)
	}
	ts, err := parseTime(raw.Timestamp)
	if err != nil {
		return Message{}, err
	}
	var (
		sd    map[string]map[string]string
		order map[string][]string
	)
	if len(raw.SD) > 0 {
		if err := json.Unmarshal(raw.SD, &sd); err != nil {
			return Message{}, fmt.Errorf("rfc5424-sd: %w", err)
		}
		if order, err = paramOrder(raw.SD); err != nil {
			return Message{}, fmt.Errorf("rfc5424-sd: %w", err)
		}
	}
	return Message{
		Priority:       pri,
		Timestamp:      ts,
		Hostname:       nilToEmpty(raw.Hostname),
		AppName:        nilToEmpty(raw.AppName),
		ProcID:         nilToEmpty(raw.ProcID),
		MsgID:          nilToEmpty(raw.MsgID),
		StructuredData: sd,
		ParamOrder:     order,
		Message:        raw.Msg,
	}, nil
}

// paramOrder reads the PARAM-NAMEs of mmpstrucdata's object of SD
// elements ({"id": {"name": "value", ...}, ...}) in the order written;
// json-c, which rsyslog writes it with, keeps the order of insertion.
func paramOrder(sd json.RawMessage) (map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(sd))
	order := map[string][]string{}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	for dec.More() {
		id, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if err := expectDelim(dec, '{'); err != nil {
			return nil, err
		}
		names := []string{}
		for dec.More() {
			name, err := stringToken(dec)
			if err != nil {
				return nil, err
			}
			if _, err := stringToken(dec); err != nil { // the value
				return nil, fmt.Errorf("%s.%s: %w", id, name, err)
			}
			names = append(names, name)
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, err
		}
		order[id] = names
	}
	return order, expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %v, found %v", want, tok)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("want a string, found %v", tok)
	}
	return s, nil
}
