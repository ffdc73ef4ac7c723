package auditlogprocessor // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable/journal"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/classify"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/shareddedup"
)

// Config is the auditlog processor's configuration.
type Config struct {
	// Source is the vendor of records that arrive without an audit.source
	// resource attribute (from the filelog, syslog, tcplog or udplog
	// receivers): ctreplay, glassix or sippy. Empty: such records are
	// recognised as CTReplay when their text is a CTReplay JSON object and
	// passed on untouched otherwise.
	Source string `mapstructure:"source"`
	// CTReplay says how CTReplay's ts is read.
	CTReplay CTReplayConfig `mapstructure:"ctreplay"`
	// Flatten controls how nested attributes become single-level keys.
	Flatten FlattenConfig `mapstructure:"flatten"`
	// Rules are the user's classification rules, tried in order before
	// the built-in defaults; the first match decides.
	Rules []RuleConfig `mapstructure:"rules"`
	// Dedup drops repeats of an event id within a window.
	Dedup DedupConfig `mapstructure:"dedup"`
	// Journal writes each pipeline call once to a storage extension before
	// the exporters get it, and keeps it until every exporter listed has
	// delivered it, so those exporters can keep their queues in memory.
	Journal JournalConfig `mapstructure:"journal"`
}

// JournalConfig is the durable copy of what the exporters have not yet
// delivered (internal/durable/journal).
type JournalConfig struct {
	// Storage is the storage extension the journal lives in (walstorage:
	// its write is part of the webhook's fsync). Unset: no journal.
	Storage *component.ID `mapstructure:"storage"`
	// Exporters are the exporters of this processor's pipelines that the
	// journal waits for; each must report its deliveries (rfc5424,
	// auditfile). Other exporters of the pipeline are not covered: give
	// them a persistent sending queue.
	Exporters []component.ID `mapstructure:"exporters"`
	// MaxUnsettled is how many records handed to one of those exporters
	// may wait for its delivery before new events wait for it in the
	// journal instead of its in-memory queue (handed over in order as it
	// catches up): a SIEM outage then fills the disk, not the queue, and
	// webhooks keep being answered. Keep it below the exporters'
	// sending_queue::queue_size. 0: never; a full queue makes webhooks wait
	// and fail with 503.
	MaxUnsettled int `mapstructure:"max_unsettled"`
}

// CTReplayConfig says how CTReplay's ts field is read.
type CTReplayConfig struct {
	// DateOrder is day_first (08/01/2021 is 8 January) or month_first.
	DateOrder string `mapstructure:"date_order"`
	// Timezone is the IANA zone of ts, which carries no offset: UTC, Local,
	// Europe/Rome, ...; empty is UTC.
	Timezone string `mapstructure:"timezone"`
}

// FlattenConfig controls flattening; see internal/flatten for the rules.
type FlattenConfig struct {
	// Separator joins the keys of nested values.
	Separator string `mapstructure:"separator"`
	// MaxDepth is the nesting depth below which a subtree is kept as one
	// JSON string.
	MaxDepth int `mapstructure:"max_depth"`
}

// RuleConfig is one classification rule. Every condition that is set must
// hold; a rule without conditions matches every record.
type RuleConfig struct {
	// Name identifies the rule in error messages; optional.
	Name string `mapstructure:"name"`
	// Source is the audit.source to match: glassix, ctreplay or sippy.
	Source string `mapstructure:"source"`
	// EventName is matched exactly against the record's event name.
	EventName string `mapstructure:"event_name"`
	// EventNameRegex is a Go regular expression (RE2) the event name must
	// match; unanchored, so use ^ and $ for a whole-name match.
	EventNameRegex string `mapstructure:"event_name_regex"`
	// Attributes must all match.
	Attributes []AttributeMatchConfig `mapstructure:"attributes"`
	// Level is the syslog level to set: emerg, alert, crit, err, warning,
	// notice, info, debug (or an alias such as error, warn).
	Level string `mapstructure:"level"`
}

// AttributeMatchConfig matches one record attribute, after flattening and
// normalization, by its value as a string.
type AttributeMatchConfig struct {
	// Key is the attribute's (flattened) name: audit.actor,
	// initiatorUser_UserName, sippy.resource_table, ...
	Key string `mapstructure:"key"`
	// Value is matched exactly, when Regex is empty.
	Value string `mapstructure:"value"`
	// Regex is a Go regular expression the value must match; unanchored.
	Regex string `mapstructure:"regex"`
}

// DedupConfig bounds the window of remembered event ids.
type DedupConfig struct {
	// Enabled turns deduplication on.
	Enabled bool `mapstructure:"enabled"`
	// Window is how long a delivered event id is remembered. Glassix retries
	// for up to 3 days, hence the default of 96h.
	Window time.Duration `mapstructure:"window"`
	// MaxEntries is the most event ids remembered; the oldest are forgotten
	// first.
	MaxEntries int `mapstructure:"max_entries"`
	// Storage is a storage extension (walstorage, file_storage/...) that keeps the
	// window across restarts. Unset: the window lives in memory only.
	Storage *component.ID `mapstructure:"storage"`
	// Shared keeps the delivered event ids of several collectors in one
	// PostgreSQL table, besides each one's local window. Unset: this
	// collector deduplicates alone.
	Shared configoptional.Optional[SharedDedupConfig] `mapstructure:"shared"`
}

// SharedDedupConfig is the PostgreSQL table several collectors share.
type SharedDedupConfig struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string `mapstructure:"dsn"`
	// Table holds the event keys; created when missing.
	Table string `mapstructure:"table"`
	// Timeout bounds each query; past it the batch is deduplicated locally
	// only.
	Timeout time.Duration `mapstructure:"timeout"`
	// RetryAfter is how long the database is left alone after a failure.
	RetryAfter time.Duration `mapstructure:"retry_after"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration, reporting every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Source != "" && !slices.Contains(auditrecord.Sources, cfg.Source) {
		errs = append(errs, fmt.Errorf("source: unknown vendor %q, want one of %s", cfg.Source, strings.Join(auditrecord.Sources, ", ")))
	}
	if _, err := ctreplay.ParseDateOrder(cfg.CTReplay.DateOrder); err != nil {
		errs = append(errs, fmt.Errorf("ctreplay::date_order: %w", err))
	}
	if _, err := vendors.LoadTimezone(cfg.CTReplay.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("ctreplay::timezone: %w", err))
	}
	if cfg.Flatten.Separator == "" {
		errs = append(errs, errors.New("flatten::separator: must not be empty"))
	}
	if cfg.Flatten.MaxDepth < 1 {
		errs = append(errs, fmt.Errorf("flatten::max_depth: must be at least 1, got %d", cfg.Flatten.MaxDepth))
	}
	if _, err := cfg.compileRules(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Dedup.Enabled {
		if cfg.Dedup.Window <= 0 {
			errs = append(errs, fmt.Errorf("dedup::window: must be positive, got %s", cfg.Dedup.Window))
		}
		if sh := cfg.Dedup.Shared.Get(); sh != nil {
			if sh.DSN == "" {
				errs = append(errs, errors.New("dedup::shared::dsn: must be set (a PostgreSQL connection string)"))
			} else if err := shareddedup.ValidateDSN(sh.DSN); err != nil {
				errs = append(errs, fmt.Errorf("dedup::shared::dsn: %w", err))
			}
			if sh.Table == "" {
				errs = append(errs, errors.New("dedup::shared::table: must be set"))
			}
			if sh.Timeout <= 0 {
				errs = append(errs, fmt.Errorf("dedup::shared::timeout: must be positive, got %s", sh.Timeout))
			}
			if sh.RetryAfter < 0 {
				errs = append(errs, fmt.Errorf("dedup::shared::retry_after: must not be negative, got %s", sh.RetryAfter))
			}
		}
		if cfg.Dedup.MaxEntries < 1 {
			errs = append(errs, fmt.Errorf("dedup::max_entries: must be at least 1, got %d", cfg.Dedup.MaxEntries))
		}
	}
	errs = append(errs, cfg.Journal.validate()...)
	return errors.Join(errs...)
}

func (j JournalConfig) validate() []error {
	var errs []error
	switch {
	case j.Storage == nil && len(j.Exporters) > 0:
		errs = append(errs, errors.New("journal::storage: must be set when journal::exporters is (a storage extension, e.g. walstorage)"))
	case j.Storage != nil && len(j.Exporters) == 0:
		errs = append(errs, errors.New("journal::exporters: must name the exporters the journal waits for (e.g. [rfc5424, auditfile])"))
	case j.MaxUnsettled < 0:
		errs = append(errs, fmt.Errorf("journal::max_unsettled: must not be negative, got %d", j.MaxUnsettled))
	case len(j.Exporters) > journal.MaxExporters:
		errs = append(errs, fmt.Errorf("journal::exporters: at most %d, got %d", journal.MaxExporters, len(j.Exporters)))
	}
	seen := map[component.ID]bool{}
	for _, id := range j.Exporters {
		if seen[id] {
			errs = append(errs, fmt.Errorf("journal::exporters: %q is listed twice", id))
		}
		seen[id] = true
	}
	return errs
}

// compileRules turns the rules into matchers, reporting every bad rule.
func (cfg *Config) compileRules() ([]classify.Rule, error) {
	var errs []error
	rules := make([]classify.Rule, 0, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if rc.Name != "" {
			where += fmt.Sprintf(" (%s)", rc.Name)
		}
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s::%s: %s", where, key, fmt.Sprintf(format, args...)))
		}
		r := classify.Rule{Name: rc.Name, Source: rc.Source, EventName: rc.EventName}
		if rc.Source != "" && !slices.Contains(auditrecord.Sources, rc.Source) {
			bad("source", "unknown vendor %q, want one of %s", rc.Source, strings.Join(auditrecord.Sources, ", "))
		}
		if rc.EventName != "" && rc.EventNameRegex != "" {
			bad("event_name_regex", "set event_name or event_name_regex, not both")
		}
		if rc.EventNameRegex != "" {
			re, err := regexp.Compile(rc.EventNameRegex)
			if err != nil {
				bad("event_name_regex", "%v", err)
			}
			r.EventNameRegex = re
		}
		for j, ac := range rc.Attributes {
			m := classify.AttrMatch{Key: ac.Key, Value: ac.Value}
			if ac.Key == "" {
				bad(fmt.Sprintf("attributes[%d]::key", j), "must not be empty")
			}
			if ac.Regex != "" {
				if ac.Value != "" {
					bad(fmt.Sprintf("attributes[%d]::regex", j), "set value or regex, not both")
				}
				re, err := regexp.Compile(ac.Regex)
				if err != nil {
					bad(fmt.Sprintf("attributes[%d]::regex", j), "%v", err)
				}
				m.Regex = re
			}
			r.Attributes = append(r.Attributes, m)
		}
		if rc.Level == "" {
			bad("level", "must be set")
		} else if l, err := severity.Parse(rc.Level); err != nil {
			bad("level", "%v", err)
		} else {
			r.Level = l
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// ctreplayOptions returns how ts is read; Validate has checked the settings.
func (cfg *Config) ctreplayOptions() (ctreplay.Options, error) {
	order, err := ctreplay.ParseDateOrder(cfg.CTReplay.DateOrder)
	if err != nil {
		return ctreplay.Options{}, err
	}
	loc, err := vendors.LoadTimezone(cfg.CTReplay.Timezone)
	if err != nil {
		return ctreplay.Options{}, err
	}
	return ctreplay.Options{DateOrder: order, Location: loc}, nil
}

func (cfg *Config) flattenOptions() flatten.Options {
	// Spare: the audit.* fields the processor adds after flattening.
	return flatten.Options{Separator: cfg.Flatten.Separator, MaxDepth: cfg.Flatten.MaxDepth, Spare: 12}
}
