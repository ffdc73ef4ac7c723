package glassix

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	secret = []byte("glassix-api-secret")
	now    = time.Date(2024, 1, 15, 11, 19, 10, 0, time.UTC)
)

func verifier(acceptDate bool) Verifier {
	return Verifier{Secret: secret, MaxClockSkew: 5 * time.Minute, AcceptDateSignature: acceptDate, Now: func() time.Time { return now }}
}

// signatureHeader returns the header value Glassix sends for msg:
// "sha1=<lowercase hex>" of its HMAC-SHA1, computed here apart from Sign.
func signatureHeader(secret, msg []byte) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestVerify(t *testing.T) {
	body := []byte(`{"key":"k","changes":[]}`)
	date := now.Add(-time.Minute).Format(http.TimeFormat)
	staleDate := now.Add(-10 * time.Minute).Format(http.TimeFormat)
	tests := []struct {
		name       string
		h          http.Header
		acceptDate bool
		wantErr    string
	}{
		{"body signature", headers(HeaderHubSignature, signatureHeader(secret, body)), true, ""},
		{"body signature in upper-case hex", headers(HeaderHubSignature, "SHA1="+strings.ToUpper(signatureHeader(secret, body)[5:])), true, ""},
		{"body signature decides over a stale date", headers(HeaderHubSignature, signatureHeader(secret, body),
			HeaderAuthSignature, signatureHeader(secret, []byte(staleDate)), HeaderAuthDate, staleDate), true, ""},
		{"forged body signature", headers(HeaderHubSignature, signatureHeader([]byte("wrong"), body)), true, "X-Hub-Signature does not match the body"},
		{"body signature of another body", headers(HeaderHubSignature, signatureHeader(secret, []byte("{}"))), true, "X-Hub-Signature does not match the body"},
		{"body signature without sha1=", headers(HeaderHubSignature, signatureHeader(secret, body)[5:]), true, "does not match"},
		{"truncated body signature", headers(HeaderHubSignature, signatureHeader(secret, body)[:20]), true, "does not match"},
		{"date signature", headers(HeaderAuthSignature, signatureHeader(secret, []byte(date)), HeaderAuthDate, date), true, ""},
		{"date signature under X-Glassix-Auth", headers(HeaderAuth, signatureHeader(secret, []byte(date)), HeaderAuthDate, date), true, ""},
		{"date signature with RFC 3339 date", headers(HeaderAuthSignature, signatureHeader(secret, []byte("2024-01-15T11:18:00.1234567Z")),
			HeaderAuthDate, "2024-01-15T11:18:00.1234567Z"), true, ""},
		{"date signature refused by setting", headers(HeaderAuthSignature, signatureHeader(secret, []byte(date)), HeaderAuthDate, date), false,
			"missing X-Hub-Signature (the date signature is not accepted)"},
		{"stale date", headers(HeaderAuthSignature, signatureHeader(secret, []byte(staleDate)), HeaderAuthDate, staleDate), true,
			"is 10m0s away from the collector's clock, more than max_clock_skew (5m0s)"},
		{"date from the future", headers(HeaderAuthSignature, signatureHeader(secret, []byte("1705318150")), HeaderAuthDate, "1705318150"), true,
			"is 10m0s away"},
		{"forged date signature", headers(HeaderAuthSignature, signatureHeader([]byte("wrong"), []byte(date)), HeaderAuthDate, date), true,
			"X-Glassix-Auth-Signature does not match X-Glassix-Auth-Date"},
		{"date signature without date", headers(HeaderAuthSignature, signatureHeader(secret, []byte(date))), true,
			"X-Glassix-Auth-Signature without X-Glassix-Auth-Date"},
		{"signed but unreadable date", headers(HeaderAuthSignature, signatureHeader(secret, []byte("soon")), HeaderAuthDate, "soon"), true,
			`cannot read X-Glassix-Auth-Date "soon"`},
		{"unsigned", headers(), true, "unsigned request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifier(tt.acceptDate).Verify(tt.h, body)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestSignatureHeaderMatchesGlassixExample(t *testing.T) {
	// Independently computed: printf '%s' 'payload' | openssl dgst -sha1 -hmac 'secret'
	assert.Equal(t, "sha1=f75efc0f29bf50c23f99b30b86f7c78fdaf5f11d", signatureHeader([]byte("secret"), []byte("payload")))
}

func TestParseAuthDate(t *testing.T) {
	want := time.Date(2024, 1, 15, 11, 19, 7, 0, time.UTC)
	for _, in := range []string{
		"Mon, 15 Jan 2024 11:19:07 GMT",
		"Mon, 15 Jan 2024 13:19:07 +0200",
		"Monday, 15-Jan-24 11:19:07 GMT",
		"2024-01-15T11:19:07Z",
		"2024-01-15T11:19:07",
		"1705317547",
		"1705317547000",
	} {
		got, err := ParseAuthDate(in)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: got %s", in, got)
	}
	_, err := ParseAuthDate("tomorrow")
	assert.Error(t, err)
}
