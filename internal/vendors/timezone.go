package vendors

import (
	"fmt"
	"time"
	// Vendors write dates in their operators' local zones; embedding the
	// zone database lets `timezone: Europe/Rome` work on hosts without
	// tzdata.
	_ "time/tzdata"
)

// LoadTimezone reads a `timezone` setting, the zone of a vendor's dates
// that carry none: an IANA name (UTC, Europe/Rome), Local for the host's
// zone, or empty for UTC. Every component with a timezone setting reads it
// here, so the receiver and the processor accept the same values.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA name such as UTC or Europe/Rome", name)
	}
	return loc, nil
}
