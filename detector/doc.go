// Package detector is the failure detector: UDP heartbeats to the members of
// the current view, and a report when a member stays silent for the timeout.
//
// Tracker is the pure part (time is an argument). Detector owns the socket:
// its Run goroutine sends a heartbeat to every other member each Interval,
// arms one timer at the earliest deadline and calls Config.Suspect once per
// silence; a reader goroutine decodes datagrams and forwards them to Run. The
// node's loop tells it the view with SetView, which never blocks; the callbacks
// are the detector's only way out, so it never touches node state.
//
// A member added by a view gets a fresh grace period, so a member that never
// sends a heartbeat is still detected. If the detector itself could not run for
// longer than the timeout (the process was paused or starved), it cannot tell
// silence from its own absence, so it gives every member a fresh grace period
// instead of suspecting them all.
package detector
