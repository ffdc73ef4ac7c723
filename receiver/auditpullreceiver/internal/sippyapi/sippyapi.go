// Package sippyapi calls Sippy Softswitch's XML-RPC method getAuditLogs
// (support article "XML-RPC API - Audit logs"): POST to the switch's
// /xmlapi/xmlapi, HTTP Digest authentication with the web login and API
// password (or none in trusted mode), a struct of start_date, end_date,
// limit and offset in, a struct of result and records out.
//
// XML-RPC is encoded and decoded by github.com/kolo/xmlrpc, which reads
// <nil/> as a nil value; Digest authentication (RFC 7616, RFC 2617) is
// github.com/icholy/digest's transport.
package sippyapi // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/sippyapi"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/icholy/digest"
	"github.com/kolo/xmlrpc"
)

// Method is the XML-RPC method the client calls.
const Method = "getAuditLogs"

// MaxLimit is getAuditLogs' largest page (and its default).
const MaxLimit = 100

// DateLayout is the form of start_date and end_date, in UTC:
// "09:57:29.000 GMT Wed Nov 18 2009".
const DateLayout = "15:04:05.000 GMT Mon Jan 2 2006"

// maxResponse bounds one answer: a page of 100 records is a few tens of
// kilobytes, so anything near this is not a page.
const maxResponse = 16 << 20

// maxDepth bounds the nesting of XML-RPC values: a record is a struct of
// scalars, so anything deep is hostile. kolo/xmlrpc decodes recursively, and
// 16 MiB of nested <value><array><data> would otherwise be hundreds of
// thousands of frames deep.
const maxDepth = 32

// FormatDate writes t as getAuditLogs reads its dates.
func FormatDate(t time.Time) string { return t.UTC().Format(DateLayout) }

// Query is getAuditLogs' argument.
type Query struct {
	Start, End time.Time
	Limit      int
	Offset     int
}

type params struct {
	StartDate string `xmlrpc:"start_date"`
	EndDate   string `xmlrpc:"end_date"`
	Limit     int    `xmlrpc:"limit"`
	Offset    int    `xmlrpc:"offset"`
}

// Record is one element of records as the switch sent it: a struct
// (map[string]any) of member name to value (string, int64, float64, bool,
// time.Time, []any, map[string]any, or nil for <nil/>). Anything else is
// returned as it came, for the caller to flag: one bad element does not
// cost the page.
type Record = any

// Kinds of failure, for logs and telemetry.
const (
	KindHTTP         = "http_status"
	KindUnauthorized = "unauthorized"
	KindFault        = "xmlrpc_fault"
	KindMalformed    = "malformed"
	KindResult       = "result"
	KindTransport    = "transport"
)

// Error is a failed call. Every failure is one of these.
type Error struct {
	// Kind is one of the Kind constants.
	Kind string
	// Status is the HTTP status, when there was an answer.
	Status int
	// FaultCode and FaultString are the XML-RPC fault's.
	FaultCode   int
	FaultString string
	Err         error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Client calls getAuditLogs on one switch.
type Client struct {
	url  string
	http *http.Client
}

// New returns a client of url (the full .../xmlapi/xmlapi address) that
// sends through base. With a username it answers the switch's Digest
// challenge with username and password; without one it relies on the
// switch's trusted mode.
func New(url string, base *http.Client, username, password string) *Client {
	c := *base
	if username != "" {
		rt := c.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		c.Transport = &digest.Transport{Username: username, Password: password, Transport: rt}
	}
	return &Client{url: url, http: &c}
}

// GetAuditLogs fetches one page.
func (c *Client) GetAuditLogs(ctx context.Context, q Query) ([]Record, error) {
	body, err := xmlrpc.EncodeMethodCall(Method, params{
		StartDate: FormatDate(q.Start), EndDate: FormatDate(q.End), Limit: q.Limit, Offset: q.Offset,
	})
	if err != nil {
		return nil, &Error{Kind: KindTransport, Err: fmt.Errorf("encoding the call: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindTransport, Err: err}
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
			return nil, &Error{Kind: KindTransport, Err: fmt.Errorf("calling %s: no answer within the timeout: %w", Method, err)}
		}
		return nil, &Error{Kind: KindTransport, Err: fmt.Errorf("calling %s: %w", Method, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, &Error{Kind: KindTransport, Status: resp.StatusCode, Err: fmt.Errorf("reading the answer to %s: %w", Method, err)}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		msg := "the switch refused the credentials (HTTP 401 after digest authentication): wrong login or API password"
		if resp.Request != nil && resp.Request.Header.Get("Authorization") == "" {
			msg = "the switch asks for authentication (HTTP 401) and no username is configured: set username and password, or list the collector's address for trusted mode"
		}
		return nil, &Error{Kind: KindUnauthorized, Status: resp.StatusCode, Err: errors.New(msg)}
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{Kind: KindHTTP, Status: resp.StatusCode,
			Err: fmt.Errorf("%s answered HTTP %d: %s", Method, resp.StatusCode, snippet(data))}
	case len(data) > maxResponse:
		return nil, &Error{Kind: KindMalformed, Status: resp.StatusCode, Err: fmt.Errorf("%s answer is larger than %d bytes", Method, maxResponse)}
	}
	return decode(data)
}

type answer struct {
	Result  string   `xmlrpc:"result"`
	Records []Record `xmlrpc:"records"`
}

func decode(data []byte) ([]Record, error) {
	if d := valueDepth(data); d > maxDepth {
		return nil, &Error{Kind: KindMalformed, Status: http.StatusOK, Err: fmt.Errorf("%s answer nests values %d deep (at most %d)", Method, d, maxDepth)}
	}
	r := xmlrpc.Response(data)
	if err := r.Err(); err != nil {
		var f xmlrpc.FaultError
		if errors.As(err, &f) {
			return nil, &Error{Kind: KindFault, Status: http.StatusOK, FaultCode: f.Code, FaultString: f.String,
				Err: fmt.Errorf("%s fault %d: %s", Method, f.Code, f.String)}
		}
		return nil, &Error{Kind: KindMalformed, Status: http.StatusOK, Err: fmt.Errorf("%s answer: unreadable fault: %w", Method, err)}
	}
	if !bytes.Contains(data, []byte("<methodResponse")) {
		return nil, &Error{Kind: KindMalformed, Status: http.StatusOK, Err: fmt.Errorf("%s answer is not an XML-RPC response: %s", Method, snippet(data))}
	}
	var a answer
	if err := r.Unmarshal(&a); err != nil {
		return nil, &Error{Kind: KindMalformed, Status: http.StatusOK, Err: fmt.Errorf("%s answer is not {result, records}: %w", Method, err)}
	}
	if a.Result != "OK" {
		return nil, &Error{Kind: KindResult, Status: http.StatusOK, Err: fmt.Errorf("%s answered result %q, want \"OK\"", Method, a.Result)}
	}
	return a.Records, nil
}

// valueDepth is the deepest nesting of <value> elements in data. Text
// cannot hold a literal "<value" (XML escapes "<"), so counting the tags
// is exact for well-formed XML and a safe bound for the rest.
func valueDepth(data []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(data); i++ {
		if data[i] != '<' {
			continue
		}
		rest := data[i+1:]
		switch {
		case bytes.HasPrefix(rest, []byte("value>")):
			depth++
			deepest = max(deepest, depth)
		case bytes.HasPrefix(rest, []byte("/value>")):
			depth--
		}
	}
	return deepest
}

// snippet is the start of a body, for error messages.
func snippet(b []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(b[:min(len(b), n)]), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(b) > n {
		s += "..."
	}
	return s
}
