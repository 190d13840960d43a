package accessgrants

import "time"

// SetClock makes the plugin read time from now, so that tests can move it
// with the emulator's clock.
func SetClock(p *Plugin, now func() time.Time) { p.now = now }

// InFlight reports how many cold-path resolutions are running.
func InFlight(p *Plugin) int64 { return p.fetching.Load() }
