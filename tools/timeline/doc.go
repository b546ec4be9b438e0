// Package timeline turns the JSON logs of one run (logs/tcN/peer-K.jsonl)
// into one ordered history and draws it: a space-time diagram as SVG and a
// compact text table of the views for the terminal.
//
// Load reads every peer-K.jsonl of a directory. It is lenient on purpose: a
// line that is not JSON (the last line of a killed process) is skipped and
// counted, and a field whose JSON type is not the expected one (a bool where
// a peer id is expected, as in the logs of older nodes) is read as zero; a
// single id where a list is expected is a list of one. The peers' streams are
// merged by time, keeping each peer's own order, so a tie never reorders one
// peer's events.
//
// The history then pairs every logged send with its receive: a message sent to
// several peers is one arrow per destination, and an arrow matches the first
// not yet matched receive of the same type, sender, receiver and content (TCP
// keeps one connection's order, and retransmissions are identical). A send
// that no receive matches is drawn as lost; a receive that the node logged as
// stale right after is drawn faded.
//
// WriteSVG draws one lane per peer with time running down the page. Time is
// linear inside a burst of activity, every event gets a few pixels of its own,
// and a quiet gap longer than Options.Gap is cut out and marked with its
// length, so the second-long waits of -d and the heartbeat timeout do not
// push the view changes apart. Heartbeats are not logged and not drawn.
//
// tools/cmd/timeline is the command; run.sh calls it after the testcases. Nothing
// here is used by the peer itself.
package timeline
