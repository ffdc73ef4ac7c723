// Package glassixapitest is a Glassix API simulator that behaves as
// Glassix's SDKs (glassix-sharp, glassix-js) expect: tokens from
// /token/get that expire, a queue of webhook events behind
// /webhooks/getevents (each receipt hides the event for a visibility
// timeout and gives it a new receipt handle, as a message queue does) and
// /webhooks/deleteevents. Faults: 429 with Retry-After, 5xx, dropped
// connections. It listens on a real socket on 127.0.0.1.
package glassixapitest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/glassixapitest"

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options of a simulator.
type Options struct {
	APIKey, APISecret, UserName string
	// TokenLife is expires_in of each token (default one hour).
	TokenLife time.Duration
	// Batch is the most events one getevents answers (default 10).
	Batch int
	// Visibility hides a received event until it is deleted or this
	// passes (default 30 s).
	Visibility time.Duration
}

type message struct {
	id, handle string
	envelope   map[string]any
	hiddenTill time.Time
	received   int
}

// Server is a running simulator.
type Server struct {
	// URL is the API base, http://127.0.0.1:port/api/v1.2.
	URL string
	o   Options
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	seq        int
	queue      []*message
	tokens     map[string]time.Time
	too        int // answer 429 to this many next calls
	failDel    int // answer 503 to this many next deleteevents
	fail       int // answer 503 to this many next calls
	down       bool
	stats      Stats
	deletedIDs map[string]int
}

// Stats are the simulator's counters.
type Stats struct {
	TokensIssued  int
	TokenRefusals int // calls with an expired or unknown token
	GetCalls      int
	Handed        int // events handed out, counting re-deliveries
	Deleted       int
	StaleDeletes  int // delete entries whose handle was not the current one
	Throttled     int
	ServerErrors  int
	Remaining     int
}

// Start runs a simulator until Close.
func Start(o Options) (*Server, error) {
	if o.TokenLife == 0 {
		o.TokenLife = time.Hour
	}
	if o.Batch == 0 {
		o.Batch = 10
	}
	if o.Visibility == 0 {
		o.Visibility = 30 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, ln: ln, tokens: map[string]time.Time{}, deletedIDs: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1.2/token/get", s.token)
	mux.HandleFunc("GET /api/v1.2/webhooks/getevents", s.getEvents)
	mux.HandleFunc("POST /api/v1.2/webhooks/deleteevents", s.deleteEvents)
	s.srv = &http.Server{Handler: s.faults(mux), ReadHeaderTimeout: 10 * time.Second}
	s.URL = "http://" + ln.Addr().String() + "/api/v1.2"
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the simulator.
func (s *Server) Close() error { return s.srv.Close() }

// Add queues webhook envelopes ({key, dateTime, changes}).
func (s *Server) Add(envelopes ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range envelopes {
		s.seq++
		s.queue = append(s.queue, &message{id: fmt.Sprintf("msg-%06d", s.seq), envelope: e})
	}
}

// Throttle answers 429 (Retry-After: 1) to the next n calls.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.too = n; s.mu.Unlock() }

// Fail answers 503 to the next n calls.
func (s *Server) Fail(n int) { s.mu.Lock(); s.fail = n; s.mu.Unlock() }

// FailDeletes answers 503 to the next n deleteevents calls.
func (s *Server) FailDeletes(n int) { s.mu.Lock(); s.failDel = n; s.mu.Unlock() }

// Down drops every connection without an answer while true.
func (s *Server) Down(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// ExpireTokens makes every token issued so far invalid, as if they had
// expired early.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.tokens {
		s.tokens[k] = time.Time{}
	}
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Remaining = len(s.queue)
	return st
}

// DeletedTwice lists message ids deleted more than once (none should be:
// a deleted message is gone).
func (s *Server) DeletedTwice() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, n := range s.deletedIDs {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down, too, fail := s.down, s.too > 0, s.fail > 0
		switch {
		case down:
		case too:
			s.too--
			s.stats.Throttled++
		case fail:
			s.fail--
			s.stats.ServerErrors++
		}
		s.mu.Unlock()
		switch {
		case down:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		case too:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"too many requests"}`, http.StatusTooManyRequests)
		case fail:
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var req struct {
		APIKey    string `json:"apiKey"`
		APISecret string `json:"apiSecret"`
		UserName  string `json:"userName"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	if req.APIKey != s.o.APIKey || req.APISecret != s.o.APISecret || req.UserName != s.o.UserName {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.stats.TokensIssued++
	tok := fmt.Sprintf("tok-%d-%d", s.stats.TokensIssued, time.Now().UnixNano())
	s.tokens[tok] = time.Now().Add(s.o.TokenLife)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": s.o.TokenLife.Seconds()})
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	valid := ok && known && time.Now().Before(exp)
	if !valid {
		s.stats.TokenRefusals++
	}
	s.mu.Unlock()
	if !valid {
		http.Error(w, `{"message":"Authorization has been denied for this request."}`, http.StatusUnauthorized)
	}
	return valid
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	del := r.URL.Query().Get("deleteEvents") != "false"
	now := time.Now()
	s.mu.Lock()
	s.stats.GetCalls++
	out := []map[string]any{}
	keep := s.queue[:0]
	for _, m := range s.queue {
		if len(out) < s.o.Batch && now.After(m.hiddenTill) {
			m.received++
			m.handle = fmt.Sprintf("rh-%s-%d", m.id, m.received)
			m.hiddenTill = now.Add(s.o.Visibility)
			e := map[string]any{}
			for k, v := range m.envelope {
				e[k] = v
			}
			e["queueReceiptHandle"], e["queueMessageId"] = m.handle, m.id
			out = append(out, e)
			s.stats.Handed++
			if del {
				s.stats.Deleted++
				s.deletedIDs[m.id]++
				continue
			}
		}
		keep = append(keep, m)
	}
	s.queue = keep
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) deleteEvents(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	failDel := s.failDel > 0
	if failDel {
		s.failDel--
		s.stats.ServerErrors++
	}
	s.mu.Unlock()
	if failDel {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	var req []struct {
		ReceiptHandle string `json:"queueReceiptHandle"`
		MessageID     string `json:"queueMessageId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req) == 0 {
		http.Error(w, `{"error":"a non-empty array of {queueReceiptHandle, queueMessageId} is required"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, h := range req {
		found := false
		for i, m := range s.queue {
			if m.id == h.MessageID {
				found = true
				if m.handle != h.ReceiptHandle {
					s.stats.StaleDeletes++
					break
				}
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.stats.Deleted++
				s.deletedIDs[m.id]++
				break
			}
		}
		if !found {
			s.stats.StaleDeletes++
		}
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Envelope is a webhook envelope with one AUDIT_LOGS change shaped like
// Glassix's Security sample (seed 000), whose log id is id.
func Envelope(id string, when time.Time) map[string]any {
	ts := when.UTC().Format("2006-01-02T15:04:05.0000000Z")
	return map[string]any{
		"key":      "9200c94a-13d7-4397-a52c-1728fc6bb670",
		"dateTime": ts,
		"changes": []any{map[string]any{
			"_event": "AUDIT_LOGS",
			"log": map[string]any{
				"id":           id,
				"dateTime":     ts,
				"departmentId": "9200c94a-13d7-4397-a52c-1728fc6bb670",
				"initiatorUser": map[string]any{
					"id": "aca76a89-8950-4424-b727-2f277c24a891", "UserName": "admin@example.com", "type": "AGENT",
				},
				"ipAddress": "198.51.100.7",
				"message":   "admin@example.com removed agent " + id,
				"type":      "UserRemoved",
				"logType":   "Security",
			},
		}},
	}
}
