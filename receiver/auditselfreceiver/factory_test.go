package auditselfreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver/internal/metadata"
)

func TestFactoryType(t *testing.T) {
	assert.Equal(t, metadata.Type, NewFactory().Type())
	assert.Equal(t, metadata.LogsStability, NewFactory().LogsStability())
	assert.Equal(t, &Config{}, NewFactory().CreateDefaultConfig(), "no default stream: a pipeline names the one it takes")
}
