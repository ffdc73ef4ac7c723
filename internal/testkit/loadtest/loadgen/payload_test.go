package loadgen

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type envelope struct {
	Key      string `json:"key"`
	DateTime string `json:"dateTime"`
	Changes  []struct {
		Event string         `json:"_event"`
		Log   map[string]any `json:"log"`
	} `json:"changes"`
}

func TestBuildMakesGlassixBodiesWithUniqueIDs(t *testing.T) {
	for _, n := range []int{1, 3, 100} {
		t.Run(fmt.Sprintf("%d events per body", n), func(t *testing.T) {
			scheme := loadid.NewScheme(9)
			p := NewPayloads(scheme, n)
			now := time.Date(2024, 1, 11, 9, 18, 32, 745235800, time.UTC)
			var buf []byte
			seen := map[string]bool{}
			for body := range 2 {
				raw, first := p.Build(buf, now)
				buf = raw
				assert.Equal(t, uint64(body*n), first, "events are numbered in order")

				var env envelope
				require.NoError(t, json.Unmarshal(raw, &env), "body is valid JSON: %s", raw)
				assert.Equal(t, "2024-01-11T09:18:32.7452358Z", env.DateTime, "Glassix's 7-digit UTC time")
				require.Len(t, env.Changes, n)
				for i, c := range env.Changes {
					assert.Equal(t, "AUDIT_LOGS", c.Event)
					id := c.Log["id"].(string)
					assert.Equal(t, scheme.String(first+uint64(i)), id)
					assert.False(t, seen[id], "id %s repeated", id)
					seen[id] = true
					assert.Equal(t, env.DateTime, c.Log["dateTime"])
					assert.Contains(t, []any{"Informative", "Security"}, c.Log["logType"])
				}
			}
		})
	}
}

func TestBuildAlternatesTheSeedSamples(t *testing.T) {
	p := NewPayloads(loadid.NewScheme(1), 2)
	raw, _ := p.Build(nil, time.Now())
	var env envelope
	require.NoError(t, json.Unmarshal(raw, &env))
	assert.Equal(t, "ChatbotMappingsChange", env.Changes[0].Log["type"])
	assert.NotContains(t, env.Changes[0].Log, "targetUser", "the Informative sample has no target user")
	assert.Equal(t, "UserRemoved", env.Changes[1].Log["type"])
	assert.Contains(t, env.Changes[1].Log, "targetUser")
}

func TestSign(t *testing.T) {
	// RFC 2104 style test vector (HMAC-SHA1, key "key").
	assert.Equal(t, "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9",
		Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog")))
}
