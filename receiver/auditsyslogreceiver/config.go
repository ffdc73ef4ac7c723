package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/config/configtls"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
)

// Config configures the auditsyslog receiver. Each listener is off while
// its endpoint is empty, so an example can take the endpoint from an
// environment variable and leave the listener off when it is unset.
type Config struct {
	// UDP listens for datagrams: "host:port" (winston-syslog udp4/udp6).
	UDP DatagramConfig `mapstructure:"udp"`
	// TCP listens for plain TCP streams: "host:port" (tcp4/tcp6).
	TCP StreamConfig `mapstructure:"tcp"`
	// TLS listens for TLS streams: "host:port" (tls4/tls6) with the
	// configtls server settings (cert_file, key_file, client_ca_file, ...).
	TLS TLSConfig `mapstructure:"tls"`
	// Unix listens on a unix stream socket: a file path.
	Unix StreamConfig `mapstructure:"unix"`
	// Unixgram listens on a unix datagram socket: a file path
	// (winston-syslog unix and unix-connect).
	Unixgram DatagramConfig `mapstructure:"unixgram"`

	// MaxMessageSize bounds one message in bytes; a longer one becomes one
	// flagged record holding its first MaxMessageSize bytes.
	MaxMessageSize int `mapstructure:"max_message_size"`
	// MaxConnections bounds the open connections of each stream listener;
	// one more is closed on arrival (the sender reconnects later).
	MaxConnections int `mapstructure:"max_connections"`
	// IdleTimeout closes a stream connection that sent nothing for this
	// long (0: never). Off by default: winston-syslog's tls4 never gets a
	// working connection again once the receiver closed one; dead peers
	// are found by TCP keepalive.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// DrainTimeout bounds how long, at shutdown or idle close, a stream
	// connection is read after the receiver asked the sender to close it.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// QueueSize bounds the datagrams read and not yet handed to the
	// pipeline, per datagram listener.
	QueueSize int `mapstructure:"queue_size"`
	// QueueBytes bounds the same datagrams in bytes.
	QueueBytes int `mapstructure:"queue_bytes"`

	CTReplay CTReplayConfig `mapstructure:"ctreplay"`

	_ struct{}
}

// StreamConfig is a TCP or unix stream listener.
type StreamConfig struct {
	// Endpoint is "host:port" (tcp) or a socket path (unix); empty is off.
	Endpoint string `mapstructure:"endpoint"`
	// Framing is json, newline or octet_counting.
	Framing string `mapstructure:"framing"`
	// SocketMode is the unix socket file's permissions, octal ("0660").
	SocketMode string `mapstructure:"socket_mode"`
	_          struct{}
}

// TLSConfig is a TLS stream listener.
type TLSConfig struct {
	Endpoint          string `mapstructure:"endpoint"`
	Framing           string `mapstructure:"framing"`
	TLSServerSettings `mapstructure:",squash"`
	_                 struct{}
}

// TLSServerSettings are configtls's server settings (cert_file, key_file,
// client_ca_file, min_version, ...). It is a type of its own so that they
// are validated only while the listener is on: configtls requires a
// certificate, and an example must start with tls::endpoint unset.
type TLSServerSettings configtls.ServerConfig

func (s TLSServerSettings) server() configtls.ServerConfig { return configtls.ServerConfig(s) }

// DatagramConfig is a UDP or unixgram listener.
type DatagramConfig struct {
	// Endpoint is "host:port" (udp) or a socket path (unixgram); empty is
	// off.
	Endpoint string `mapstructure:"endpoint"`
	// ReceiveBufferSize is the socket's receive buffer in bytes, which
	// holds the datagrams that arrive while the receiver is busy.
	ReceiveBufferSize int `mapstructure:"receive_buffer_size"`
	// SocketMode is the unix socket file's permissions, octal ("0660").
	SocketMode string `mapstructure:"socket_mode"`
	_          struct{}
}

// CTReplayConfig says how CTReplay's ts is read.
type CTReplayConfig struct {
	// DateOrder is day_first (08/01/2021 is 8 January) or month_first.
	DateOrder string `mapstructure:"date_order"`
	// Timezone is the IANA zone CTReplay writes ts in.
	Timezone string `mapstructure:"timezone"`
	_        struct{}
}

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	checkAddr := func(key, ep string) {
		if ep == "" {
			return
		}
		if _, _, err := net.SplitHostPort(ep); err != nil {
			errs = append(errs, fmt.Errorf("%s::endpoint: want host:port, got %q: %w", key, ep, err))
		}
	}
	checkAddr("udp", cfg.UDP.Endpoint)
	checkAddr("tcp", cfg.TCP.Endpoint)
	checkAddr("tls", cfg.TLS.Endpoint)
	checkFraming := func(key, f string) {
		if _, err := frame.ParseFraming(f); err != nil {
			errs = append(errs, fmt.Errorf("%s::framing: %w", key, err))
		}
	}
	checkFraming("tcp", cfg.TCP.Framing)
	checkFraming("tls", cfg.TLS.Framing)
	checkFraming("unix", cfg.Unix.Framing)
	checkMode := func(key, m string) {
		if _, err := parseMode(m); err != nil {
			errs = append(errs, fmt.Errorf("%s::socket_mode: %w", key, err))
		}
	}
	checkMode("unix", cfg.Unix.SocketMode)
	checkMode("unixgram", cfg.Unixgram.SocketMode)
	if cfg.TLS.Endpoint != "" {
		if err := cfg.TLS.server().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tls: %w (cert_file and key_file are required when tls::endpoint is set)", err))
		}
	}
	if cfg.UDP.ReceiveBufferSize < 0 {
		errs = append(errs, fmt.Errorf("udp::receive_buffer_size: must not be negative, got %d", cfg.UDP.ReceiveBufferSize))
	}
	if cfg.Unixgram.ReceiveBufferSize < 0 {
		errs = append(errs, fmt.Errorf("unixgram::receive_buffer_size: must not be negative, got %d", cfg.Unixgram.ReceiveBufferSize))
	}
	if cfg.MaxMessageSize < 1 {
		errs = append(errs, fmt.Errorf("max_message_size: must be at least 1, got %d", cfg.MaxMessageSize))
	}
	if cfg.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_connections: must be at least 1, got %d", cfg.MaxConnections))
	}
	if cfg.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: must not be negative, got %s", cfg.IdleTimeout))
	}
	if cfg.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("drain_timeout: must be positive, got %s", cfg.DrainTimeout))
	}
	if cfg.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("queue_size: must be at least 1, got %d", cfg.QueueSize))
	}
	if cfg.QueueBytes < cfg.MaxMessageSize {
		errs = append(errs, fmt.Errorf("queue_bytes: must hold at least one message of max_message_size (%d), got %d", cfg.MaxMessageSize, cfg.QueueBytes))
	}
	if _, err := ctreplay.ParseDateOrder(cfg.CTReplay.DateOrder); err != nil {
		errs = append(errs, fmt.Errorf("ctreplay::date_order: %w", err))
	}
	if _, err := time.LoadLocation(cfg.CTReplay.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("ctreplay::timezone: %w", err))
	}
	return errors.Join(errs...)
}

// parseMode reads an octal file mode; empty is the default, 0660.
func parseMode(s string) (uint32, error) {
	if s == "" {
		return 0o660, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("want octal permissions such as 0660, got %q", s)
	}
	return uint32(m), nil
}
