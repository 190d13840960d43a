package accessgrants

import "time"

// SetClock makes the plugin read time from now, so that tests can move it
// with the emulator's clock.
func SetClock(p *Plugin, now func() time.Time) { p.now = now }
