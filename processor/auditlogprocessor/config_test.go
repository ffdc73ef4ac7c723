package auditlogprocessor

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/classify"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"
)

func loadConfig(t *testing.T, id component.ID) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config), confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "dedup")
	tests := []struct {
		id   component.ID
		want *Config
	}{
		{
			id:   component.NewID(metadata.Type),
			want: NewFactory().CreateDefaultConfig().(*Config),
		},
		{
			id: component.NewIDWithName(metadata.Type, "ctreplay"),
			want: &Config{
				Source:   "ctreplay",
				CTReplay: CTReplayConfig{DateOrder: "month_first", Timezone: "Europe/Rome"},
				Flatten:  FlattenConfig{Separator: ".", MaxDepth: 8},
				Rules: []RuleConfig{
					{Name: "admin deletions", Source: "ctreplay", EventNameRegex: "^DELETE", Attributes: []AttributeMatchConfig{{Key: "userID", Value: "admin"}}, Level: "err"},
					{EventName: "GET USERS", Attributes: []AttributeMatchConfig{{Key: "audit.client_address", Regex: `^10\.`}}, Level: "notice"},
				},
				Dedup: DedupConfig{
					Enabled: true, Window: 72 * time.Hour, MaxEntries: 5000, Storage: &storageID,
					Shared: configoptional.Some(SharedDedupConfig{DSN: "postgres://audit@db.example.com:5432/audit", Table: "otelcol_audit_dedup", Timeout: 500 * time.Millisecond, RetryAfter: 10 * time.Second}),
				},
				Journal: JournalConfig{MaxUnsettled: 2500},
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "journal"),
			want: func() *Config {
				c := NewFactory().CreateDefaultConfig().(*Config)
				wal := component.MustNewID("walstorage")
				c.Dedup.Storage = &wal
				c.Journal = JournalConfig{Storage: &wal, Exporters: []component.ID{
					component.MustNewID("rfc5424"), component.MustNewIDWithName("auditfile", "archive"),
				}, MaxUnsettled: 10000}
				return c
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "nodedup"),
			want: func() *Config {
				c := NewFactory().CreateDefaultConfig().(*Config)
				c.Dedup.Enabled = false
				return c
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			got, err := loadConfig(t, tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, &Config{
		CTReplay: CTReplayConfig{DateOrder: "day_first", Timezone: "UTC"},
		Flatten:  FlattenConfig{Separator: "_", MaxDepth: 16},
		Dedup: DedupConfig{
			Enabled: true, Window: 96 * time.Hour, MaxEntries: 100000,
			Shared: configoptional.Default(SharedDedupConfig{Table: "otelcol_audit_dedup", Timeout: 500 * time.Millisecond, RetryAfter: 10 * time.Second}),
		},
		Journal: JournalConfig{MaxUnsettled: 2500},
	}, cfg)
	assert.False(t, cfg.Dedup.Shared.HasValue(), "not shared unless configured")
}

func TestInvalidConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(t, component.NewIDWithName(metadata.Type, "invalid"))
	require.Error(t, err)
	for _, want := range []string{
		`source: unknown vendor "okta", want one of glassix, ctreplay, sippy`,
		`ctreplay::date_order: unknown date order "year_first": want day_first or month_first`,
		`ctreplay::timezone: unknown time zone "Mars/Olympus": want an IANA name such as UTC or Europe/Rome`,
		`flatten::separator: must not be empty`,
		`flatten::max_depth: must be at least 1, got 0`,
		`rules[0] (broken)::source: unknown vendor "slack"`,
		`rules[0] (broken)::event_name_regex: set event_name or event_name_regex, not both`,
		"rules[0] (broken)::event_name_regex: error parsing regexp: missing closing ): `(`",
		`rules[0] (broken)::attributes[0]::key: must not be empty`,
		`rules[0] (broken)::attributes[0]::regex: set value or regex, not both`,
		`rules[0] (broken)::level: unknown severity "loud"`,
		`rules[1]::level: must be set`,
		`dedup::window: must be positive, got 0s`,
		`dedup::max_entries: must be at least 1, got 0`,
		`dedup::shared::dsn: cannot parse`,
		`dedup::shared::timeout: must be positive, got 0s`,
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestCompileRules(t *testing.T) {
	cfg, err := loadConfig(t, component.NewIDWithName(metadata.Type, "ctreplay"))
	require.NoError(t, err)
	rules, err := cfg.compileRules()
	require.NoError(t, err)
	assert.Equal(t, []classify.Rule{
		{Name: "admin deletions", Source: "ctreplay", EventNameRegex: regexp.MustCompile("^DELETE"), Attributes: []classify.AttrMatch{{Key: "userID", Value: "admin"}}, Level: severity.Err},
		{EventName: "GET USERS", Attributes: []classify.AttrMatch{{Key: "audit.client_address", Regex: regexp.MustCompile(`^10\.`)}}, Level: severity.Notice},
	}, rules)
}

// An empty ctreplay::timezone is UTC, as it is for the auditwebhook
// receiver: both read the setting with vendors.LoadTimezone.
func TestEmptyTimezoneIsUTC(t *testing.T) {
	cfg := defaultConfig()
	cfg.Source = "ctreplay"
	cfg.CTReplay.Timezone = ""
	require.NoError(t, cfg.Validate())
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(textResource(fileLine(seedCTReplayLine)))))
	recs := h.records()
	require.Len(t, recs, 1)
	assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), recs[0].Timestamp().AsTime())
}
