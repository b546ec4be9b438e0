// Package hosts reads the hostsfile that lists the group's peers and turns
// its entries into addresses.
//
// The file has one peer per non-empty line; '#' starts a comment anywhere on a
// line. A line is "host" or "host:port", where host is a hostname or an IP
// address (an IPv6 address with a port is written "[::1]:7000"; a bare "::1"
// has no port). A peer's id is its 1-based position among the lines that are
// not blank or comments, so peer 1, the first leader, is the first entry.
// An entry without a port uses the default TCP and UDP ports given by flags
// (the same on every peer, as in the course's containers); an entry with a
// port uses that port for both TCP and UDP, so many peers fit on 127.0.0.1.
//
// membership.Listen (for cmd/peer, or any program that embeds a peer) calls
// Load once at start (or Parse, for a list of addresses), then File.Self to
// learn its own id (from -i, or by matching os.Hostname() to an entry) and
// Entry.ListenAddr to know where to listen. Parse and Load never panic: every problem is one error that
// names the line and wraps one of the Err sentinels, so the caller can print it
// and exit. A File is not modified after Parse and may be read from any
// goroutine.
//
// A Resolver turns peer ids into TCP and UDP addresses. It is safe for
// concurrent use by the wire and detector goroutines. Names are resolved
// lazily and positive answers cached; a name that does not resolve yet (a
// container that is not up, while Docker's DNS catches up) fails quickly and
// is looked up again at the next call, so the callers' own retry loops decide
// how long to keep trying.
package hosts
