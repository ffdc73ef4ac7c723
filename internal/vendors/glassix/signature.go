package glassix // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Glassix signs with HMAC-SHA1; HMAC does not rely on SHA-1's collision resistance.
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The signature headers Glassix sends
// (https://docs.glassix.com/docs/validate-outbound-webhooks-and-api).
const (
	// HeaderHubSignature is "sha1=<hex HMAC-SHA1(secret, body)>".
	HeaderHubSignature = "X-Hub-Signature"
	// HeaderAuthSignature is "sha1=<hex HMAC-SHA1(secret, X-Glassix-Auth-Date)>".
	HeaderAuthSignature = "X-Glassix-Auth-Signature"
	// HeaderAuth is accepted as another name of HeaderAuthSignature.
	HeaderAuth = "X-Glassix-Auth"
	// HeaderAuthDate is the signed send time.
	HeaderAuthDate = "X-Glassix-Auth-Date"
)

// Verifier checks Glassix signatures.
//
// X-Hub-Signature signs the body, so when present it alone decides. The
// date signature only proves that the sender knew the secret at that time,
// not what it sent, so it is accepted (when AcceptDateSignature is set)
// only within MaxClockSkew of the collector's clock, which bounds how long
// a captured request's headers can be replayed with another body.
type Verifier struct {
	Secret              []byte
	MaxClockSkew        time.Duration
	AcceptDateSignature bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verify returns nil when the request is authentic, else why not.
func (v Verifier) Verify(h http.Header, body []byte) error {
	if sig := h.Get(HeaderHubSignature); sig != "" {
		if !v.matches(sig, body) {
			return fmt.Errorf("%s does not match the body", HeaderHubSignature)
		}
		return nil
	}
	if !v.AcceptDateSignature {
		return fmt.Errorf("missing %s (the date signature is not accepted)", HeaderHubSignature)
	}
	name := HeaderAuthSignature
	sig := h.Get(name)
	if sig == "" {
		name = HeaderAuth
		sig = h.Get(name)
	}
	if sig == "" {
		return fmt.Errorf("unsigned request: no %s or %s header", HeaderHubSignature, HeaderAuthSignature)
	}
	date := h.Get(HeaderAuthDate)
	if date == "" {
		return fmt.Errorf("%s without %s", name, HeaderAuthDate)
	}
	if !v.matches(sig, []byte(date)) {
		return fmt.Errorf("%s does not match %s", name, HeaderAuthDate)
	}
	sent, err := ParseAuthDate(date)
	if err != nil {
		return err
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if skew := now.Sub(sent).Abs(); skew > v.MaxClockSkew {
		return fmt.Errorf("%s %q is %s away from the collector's clock, more than max_clock_skew (%s)",
			HeaderAuthDate, date, skew.Round(time.Second), v.MaxClockSkew)
	}
	return nil
}

// matches reports whether header is "sha1=<hex>" of HMAC-SHA1(secret, msg),
// comparing in constant time.
func (v Verifier) matches(header string, msg []byte) bool {
	prefix, hexSig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(prefix, "sha1") {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	return hmac.Equal(got, Sign(v.Secret, msg))
}

// Sign returns HMAC-SHA1(secret, msg), the raw bytes of a Glassix signature.
func Sign(secret, msg []byte) []byte {
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg)
	return mac.Sum(nil)
}

// ParseAuthDate reads X-Glassix-Auth-Date: an HTTP date (RFC 1123, also
// RFC 850 and ANSI C), RFC 1123 with a numeric zone, RFC 3339 (a value
// without a zone is UTC) or Unix time in seconds or milliseconds.
func ParseAuthDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := http.ParseTime(s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t, nil
	}
	if t, ok := parseDateTimeOK(s); ok {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if len(s) >= 13 {
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("cannot read %s %q: want an RFC 1123 or RFC 3339 date", HeaderAuthDate, s)
}
