package vendors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadTimezone(t *testing.T) {
	for _, tt := range []struct{ setting, want string }{
		{"", "UTC"},
		{"UTC", "UTC"},
		{"Europe/Rome", "Europe/Rome"},
		{"Local", "Local"},
	} {
		loc, err := LoadTimezone(tt.setting)
		require.NoError(t, err, "%q", tt.setting)
		assert.Equal(t, tt.want, loc.String(), "%q", tt.setting)
	}
	// Empty is UTC itself, not a zone named "" that prints as UTC.
	loc, err := LoadTimezone("")
	require.NoError(t, err)
	assert.Same(t, time.UTC, loc)

	_, err = LoadTimezone("Mars/Olympus_Mons")
	assert.EqualError(t, err, `unknown time zone "Mars/Olympus_Mons": want an IANA name such as UTC or Europe/Rome`)
}
