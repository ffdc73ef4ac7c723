// Package glassixapi pulls Glassix's queued webhook events through its
// REST API, as Glassix's own SDKs (glassix-sharp, glassix-js) call it:
//
//   - POST {base}/token/get with {apiKey, apiSecret, userName} answers
//     {access_token, token_type, expires_in}; every other call carries
//     "Authorization: Bearer <access_token>".
//   - GET {base}/webhooks/getevents?deleteEvents=false answers a JSON array
//     of webhook envelopes {key, dateTime, changes, queueReceiptHandle,
//     queueMessageId} and leaves them queued.
//   - POST {base}/webhooks/deleteevents with a JSON array of
//     {queueReceiptHandle, queueMessageId} deletes them.
//
// base is https://<workspace>.glassix.com/api/v1.2.
package glassixapi // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/glassixapi"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths under the API base.
const (
	PathToken        = "/token/get"
	PathGetEvents    = "/webhooks/getevents"
	PathDeleteEvents = "/webhooks/deleteevents"
)

// refreshBefore is how long before its expiry a token is renewed (the SDK
// renews 5 minutes early).
const refreshBefore = 5 * time.Minute

// maxResponse bounds one answer.
const maxResponse = 64 << 20

// Credentials identify the API user.
type Credentials struct {
	APIKey, APISecret, UserName string
}

// Event is one queued webhook event: the envelope as Glassix sent it, and
// the queue's handles.
type Event struct {
	// Raw is the envelope's JSON text, as the webhook path parses it.
	Raw           json.RawMessage
	ReceiptHandle string
	MessageID     string
	parseProblem  error
}

// Problem is why the envelope's queue handles could not be read (the
// event can then not be deleted); nil for a well-formed event.
func (e Event) Problem() error { return e.parseProblem }

// Error is a failed call.
type Error struct {
	Op     string
	Status int
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Client calls one Glassix workspace.
type Client struct {
	base  string
	http  *http.Client
	creds Credentials
	now   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns a client of the API at base (…/api/v1.2).
func New(base string, hc *http.Client, creds Credentials) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: hc, creds: creds, now: time.Now}
}

// Token returns a valid access token, fetching a new one when the current
// one expires within refreshBefore (or within a tenth of its life, for
// short-lived tokens).
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	body, _ := json.Marshal(map[string]string{"apiKey": c.creds.APIKey, "apiSecret": c.creds.APISecret, "userName": c.creds.UserName})
	data, err := c.do(ctx, "token", http.MethodPost, PathToken, body, "")
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusBadRequest) {
			e.Err = fmt.Errorf("glassix refused the API credentials (HTTP %d): check api_key, api_secret and user_name: %w", e.Status, e.Err)
		}
		return "", err
	}
	var tr struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &tr); err != nil || tr.AccessToken == "" {
		return "", &Error{Op: "token", Status: http.StatusOK, Err: fmt.Errorf("token answer has no access_token: %s", snippet(data))}
	}
	life := time.Duration(tr.ExpiresIn * float64(time.Second))
	early := min(refreshBefore, life/10)
	c.token, c.expires = tr.AccessToken, c.now().Add(life-early)
	return c.token, nil
}

// forget drops the token after the API refused it.
func (c *Client) forget(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// GetEvents fetches the queued events without deleting them.
func (c *Client) GetEvents(ctx context.Context) ([]Event, error) {
	data, err := c.authed(ctx, "getevents", http.MethodGet, PathGetEvents+"?deleteEvents=false", nil)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, &Error{Op: "getevents", Status: http.StatusOK, Err: fmt.Errorf("getevents answer is not a JSON array: %v: %s", err, snippet(data))}
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		events[i].Raw = raw
		var h struct {
			ReceiptHandle *string `json:"queueReceiptHandle"`
			MessageID     *string `json:"queueMessageId"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			events[i].parseProblem = fmt.Errorf("event %d is not an object with queueReceiptHandle and queueMessageId: %v", i, err)
			continue
		}
		if h.ReceiptHandle == nil || h.MessageID == nil || *h.ReceiptHandle == "" || *h.MessageID == "" {
			events[i].parseProblem = fmt.Errorf("event %d has no queueReceiptHandle or queueMessageId", i)
			continue
		}
		events[i].ReceiptHandle, events[i].MessageID = *h.ReceiptHandle, *h.MessageID
	}
	return events, nil
}

// DeleteEvents deletes events from the queue.
func (c *Client) DeleteEvents(ctx context.Context, events []Event) error {
	type handle struct {
		ReceiptHandle string `json:"queueReceiptHandle"`
		MessageID     string `json:"queueMessageId"`
	}
	hs := make([]handle, 0, len(events))
	for _, e := range events {
		if e.ReceiptHandle != "" {
			hs = append(hs, handle{e.ReceiptHandle, e.MessageID})
		}
	}
	if len(hs) == 0 {
		return nil
	}
	body, _ := json.Marshal(hs)
	_, err := c.authed(ctx, "deleteevents", http.MethodPost, PathDeleteEvents, body)
	return err
}

// authed calls with the token, and once more with a new token when the
// API answers 401 (the token was revoked or expired early).
func (c *Client) authed(ctx context.Context, op, method, path string, body []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		token, err := c.Token(ctx)
		if err != nil {
			return nil, err
		}
		data, err := c.do(ctx, op, method, path, body, token)
		var e *Error
		if attempt == 0 && errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			c.forget(token)
			continue
		}
		return data, err
	}
}

func (c *Client) do(ctx context.Context, op, method, path string, body []byte, token string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Err: fmt.Errorf("%s: %w", op, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("%s: reading the answer: %w", op, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("%s answered HTTP %d: %s", op, resp.StatusCode, snippet(data))}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, e
	}
	if len(data) > maxResponse {
		return nil, &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("%s answer is larger than %d bytes", op, maxResponse)}
	}
	return data, nil
}

func snippet(b []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(b[:min(len(b), n)]), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(b) > n {
		s += "..."
	}
	return s
}
