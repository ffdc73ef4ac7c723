package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/format"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport"
)

// Transports and framings, as written in the configuration.
const (
	TransportTCP      = transport.TCP
	TransportUDP      = transport.UDP
	TransportTLS      = transport.TLS
	TransportUnix     = transport.Unix
	TransportUnixgram = transport.Unixgram
	TransportRELP     = transport.RELP

	FramingOctetCounting  = transport.OctetCounting
	FramingNonTransparent = transport.NonTransparent
)

// Default maximum message sizes, framing excluded. RFC 5425 section 4.3.1:
// receivers MUST accept 2048 octets and SHOULD accept 8192; rsyslog's
// default limit is 8192 too. RFC 5426 section 3.2: UDP receivers SHOULD
// accept 2048 octets.
const (
	DefaultMaxMessageSizeStream   = 8192
	DefaultMaxMessageSizeDatagram = 2048
	// MinMaxMessageSize is the size every IPv4 receiver MUST accept (RFC
	// 5426 section 3.2), and leaves room for the longest header.
	MinMaxMessageSize = 480
)

// Config is the rfc5424 exporter's configuration.
type Config struct {
	// Endpoint is host:port for tcp, udp, tls and relp, or a socket path for unix
	// and unixgram.
	Endpoint string `mapstructure:"endpoint"`
	// Transport is tcp, udp, tls, unix, unixgram or relp.
	Transport string `mapstructure:"transport"`
	// Framing is octet_counting or non_transparent, for tcp, tls and unix.
	// Empty means octet_counting for tcp and tls, non_transparent for unix.
	Framing string `mapstructure:"framing"`
	// Facility is a syslog facility name: kern, user, ..., local0-local7.
	Facility string `mapstructure:"facility"`
	// Hostname is the HOSTNAME field; empty means the machine's host name,
	// "-" means none.
	Hostname string `mapstructure:"hostname"`
	// AppName, when set, replaces the record's audit.source as APP-NAME.
	AppName string `mapstructure:"app_name"`
	// MsgID, when set, replaces the record's event name as MSGID.
	MsgID string `mapstructure:"msg_id"`
	// SDID is the SD-ID of the element holding the record's attributes.
	SDID string `mapstructure:"sd_id"`
	// IncludeResourceAttributes adds a second SD element, ResourceSDID,
	// holding the resource attributes.
	IncludeResourceAttributes bool   `mapstructure:"include_resource_attributes"`
	ResourceSDID              string `mapstructure:"resource_sd_id"`
	// MessageTemplate builds MSG from {event_name}, {body}, {source} and
	// {severity}.
	MessageTemplate string `mapstructure:"message_template"`
	// MaxMessageSize is the largest message in octets, framing excluded; 0
	// means the transport's default.
	MaxMessageSize int `mapstructure:"max_message_size"`
	// Format is what MSG carries: rfc5424 (the attributes as structured
	// data, MSG from message_template), cef (a CEF:0 line) or leef (a
	// LEEF:2.0 line). Empty means rfc5424.
	Format string `mapstructure:"format"`
	// DeviceVersion is CEF's Device Version and LEEF's Version.
	DeviceVersion string `mapstructure:"device_version"`
	// LEEFDelimiter separates LEEF attributes: one printable ASCII
	// character, or its hex form (x09 or 0x09 for a tab).
	LEEFDelimiter string `mapstructure:"leef_delimiter"`
	// TLS configures the tls transport, and relp with relp.tls: CA,
	// client certificate, server name.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// RELP configures the relp transport.
	RELP RELPConfig `mapstructure:"relp"`

	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
}

// RELPConfig holds the settings of transport: relp.
type RELPConfig struct {
	// WindowSize is how many messages may wait for the SIEM's answer at
	// once.
	WindowSize int `mapstructure:"window_size"`
	// ResponseTimeout is how long to wait for the next answer before the
	// session counts as broken (the export's timeout, when shorter, ends
	// the wait first).
	ResponseTimeout time.Duration `mapstructure:"response_timeout"`
	// TLS wraps the session in TLS, configured by the tls settings (as
	// rsyslog's imrelp tls="on" expects).
	TLS bool `mapstructure:"tls"`
}

// defaultRELPConfig is librelp's window and a response timeout long
// enough for a SIEM that is busy but alive.
func defaultRELPConfig() RELPConfig {
	return RELPConfig{
		WindowSize:      transport.DefaultRELPWindow,
		ResponseTimeout: transport.DefaultRELPResponseTimeout,
	}
}

// facilities are the facility names of RFC 5424 section 6.2.1, with the
// names syslog implementations use for them.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

func facilityCode(name string) (int, error) {
	if c, ok := facilities[strings.ToLower(name)]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("facility: unknown facility %q: want kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron or local0-local7", name)
}

// framing is the framing in force: the configured one or the transport's
// default.
func (c *Config) framing() string {
	if c.Framing != "" {
		return c.Framing
	}
	if c.Transport == TransportUnix {
		return FramingNonTransparent
	}
	return FramingOctetCounting
}

// maxMessageSize is the limit in force: the configured one or the
// transport's default.
func (c *Config) maxMessageSize() int {
	if c.MaxMessageSize > 0 {
		return c.MaxMessageSize
	}
	if transport.Stream(c.Transport) || c.Transport == TransportRELP {
		return DefaultMaxMessageSizeStream
	}
	return DefaultMaxMessageSizeDatagram
}

// formatOptions are the formatter's options for this configuration; the
// host name is resolved by the caller.
func (c *Config) formatOptions(hostname string) (format.Options, error) {
	facility, err := facilityCode(c.Facility)
	if err != nil {
		return format.Options{}, err
	}
	return c.formatOptionsWith(facility, hostname), nil
}

func (c *Config) formatOptionsWith(facility int, hostname string) format.Options {
	opts := format.Options{
		Facility:       facility,
		Hostname:       hostname,
		AppName:        c.AppName,
		MsgID:          c.MsgID,
		SDID:           c.SDID,
		Template:       c.MessageTemplate,
		EscapeNewlines: transport.Stream(c.Transport) && c.framing() == FramingNonTransparent,
		MaxSize:        c.maxMessageSize(),
	}
	if c.IncludeResourceAttributes {
		opts.ResourceSDID = c.ResourceSDID
	}
	opts.Payload = c.Format
	opts.DeviceVersion = c.DeviceVersion
	opts.LEEFDelimiter, _ = parseLEEFDelimiter(c.LEEFDelimiter)
	return opts
}

// parseLEEFDelimiter reads leef_delimiter: empty (the default), one
// character, or x/0x and one or two hex digits.
func parseLEEFDelimiter(s string) (byte, error) {
	switch {
	case s == "":
		return 0, nil
	case len(s) == 1:
		return s[0], nil
	}
	hex, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok {
		hex, ok = strings.CutPrefix(strings.ToLower(s), "x")
	}
	if n, err := strconv.ParseUint(hex, 16, 8); ok && err == nil && len(hex) <= 2 && n > 0 {
		return byte(n), nil
	}
	return 0, fmt.Errorf("leef_delimiter: %q is not one character or its hex form (x09)", s)
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	switch c.Transport {
	case TransportTCP, TransportUDP, TransportTLS, TransportRELP:
		if c.Endpoint == "" {
			errs = append(errs, errors.New("endpoint: must be set (host:port)"))
		} else if _, port, err := net.SplitHostPort(c.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("endpoint: %q is not host:port: %w", c.Endpoint, err))
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("endpoint: port %q is not a number from 1 to 65535", port))
		}
	case TransportUnix, TransportUnixgram:
		if c.Endpoint == "" {
			errs = append(errs, errors.New("endpoint: must be set (the socket's path)"))
		}
	default:
		errs = append(errs, fmt.Errorf("transport: unknown transport %q: want tcp, udp, tls, unix, unixgram or relp", c.Transport))
	}
	switch c.Framing {
	case "":
	case FramingOctetCounting, FramingNonTransparent:
		switch c.Transport {
		case TransportUDP, TransportUnixgram:
			errs = append(errs, fmt.Errorf("framing: applies to tcp, tls and unix only; %s sends one message per datagram", c.Transport))
		case TransportRELP:
			errs = append(errs, errors.New("framing: applies to tcp, tls and unix only; relp frames each message by its length"))
		}
	default:
		errs = append(errs, fmt.Errorf("framing: unknown framing %q: want octet_counting or non_transparent", c.Framing))
	}
	usesTLS := c.Transport == TransportTLS || (c.Transport == TransportRELP && c.RELP.TLS)
	if !usesTLS && !reflect.DeepEqual(c.TLS, configtls.ClientConfig{}) {
		if c.Transport == TransportRELP {
			errs = append(errs, errors.New("tls: is set but relp.tls is false; set relp.tls: true to send RELP over TLS"))
		} else {
			errs = append(errs, fmt.Errorf("tls: is set but transport is %q; use transport: tls", c.Transport))
		}
	}
	if c.Transport == TransportRELP {
		if c.RELP.WindowSize < 1 {
			errs = append(errs, fmt.Errorf("relp.window_size: %d must be at least 1", c.RELP.WindowSize))
		}
		if c.RELP.ResponseTimeout <= 0 {
			errs = append(errs, fmt.Errorf("relp.response_timeout: %v must be positive", c.RELP.ResponseTimeout))
		}
	} else if c.RELP != defaultRELPConfig() {
		errs = append(errs, fmt.Errorf("relp: is set but transport is %q; use transport: relp", c.Transport))
	}
	if c.MaxMessageSize != 0 && c.MaxMessageSize < MinMaxMessageSize {
		errs = append(errs, fmt.Errorf("max_message_size: %d is below the %d octets every receiver must accept", c.MaxMessageSize, MinMaxMessageSize))
	}
	if c.IncludeResourceAttributes && c.ResourceSDID == "" {
		errs = append(errs, errors.New("resource_sd_id: must be set when include_resource_attributes is true"))
	}
	if c.Hostname != "" && c.Hostname != "-" {
		if err := validHeaderField(c.Hostname, format.MaxHostnameLen); err != nil {
			errs = append(errs, fmt.Errorf("hostname: %w", err))
		}
	}
	if c.AppName != "" {
		if err := validHeaderField(c.AppName, format.MaxAppNameLen); err != nil {
			errs = append(errs, fmt.Errorf("app_name: %w", err))
		}
	}
	if c.MsgID != "" {
		if err := validHeaderField(c.MsgID, format.MaxMsgIDLen); err != nil {
			errs = append(errs, fmt.Errorf("msg_id: %w", err))
		}
	}
	if _, err := facilityCode(c.Facility); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseLEEFDelimiter(c.LEEFDelimiter); err != nil {
		errs = append(errs, err)
	} else if c.LEEFDelimiter != "" && c.Format != format.PayloadLEEF {
		errs = append(errs, fmt.Errorf("leef_delimiter: is set but format is %q; use format: leef", c.Format))
	}
	if c.DeviceVersion != "" {
		if err := validHeaderField(strings.ReplaceAll(c.DeviceVersion, " ", "_"), 63); err != nil {
			errs = append(errs, fmt.Errorf("device_version: %w", err))
		}
	}
	// The formatter checks format, sd_id, resource_sd_id,
	// message_template and the LEEF delimiter.
	opts := c.formatOptionsWith(0, "-")
	if _, err := format.New(opts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validHeaderField checks a configured header value: record values are
// repaired, but a configured one that needs repair is a typo.
func validHeaderField(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("%q is longer than %d characters", s, maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return fmt.Errorf("%q contains %q: only printable US-ASCII without spaces is allowed", s, s[i])
		}
	}
	return nil
}
