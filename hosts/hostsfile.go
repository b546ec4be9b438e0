package hosts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"peer/codec"
)

// Limits of a hostsfile, checked while reading.
const (
	// MaxEntries bounds the number of peers: every member list must fit in a
	// message (codec.MaxMembers).
	MaxEntries = codec.MaxMembers
	// MaxLineLen bounds one line in bytes, not counting the line ending.
	MaxLineLen = 4096
)

// Errors. Parse, Load and File.Self return an *Error wrapping one of them;
// Resolver wraps ErrIDRange or ErrResolve.
var (
	ErrNoEntries   = errors.New("hostsfile: no entries")                           // only blank lines and comments
	ErrDuplicate   = errors.New("hostsfile: duplicate entry")                      // same host and port as an earlier line
	ErrBadPort     = errors.New("hostsfile: bad port")                             // not a decimal number in 1..65535
	ErrBadHost     = errors.New("hostsfile: bad host")                             // neither a hostname nor an IP address
	ErrNoSelf      = errors.New("hostsfile: cannot tell which entry is this peer") // no hostname match, or several
	ErrIDRange     = errors.New("hostsfile: id out of range")                      // an id not in 1..Len
	ErrLineTooLong = errors.New("hostsfile: line too long")                        // more than MaxLineLen bytes
	ErrTooMany     = errors.New("hostsfile: too many entries")                     // more than MaxEntries peers
	ErrResolve     = errors.New("hostsfile: cannot resolve host")                  // a lookup failed or found nothing (try again later)
)

// Error is the error Parse, Load and File.Self return for a problem with the
// file's contents or with picking this peer. It wraps one of the sentinels
// above (errors.Is works) and reads as one line, for example
//
//	hostsfile: hosts.txt: line 3: bad port "70000" (want 1..65535)
type Error struct {
	Path   string // the file, when known (set by Load)
	Line   int    // 1-based line number, 0 when the problem is not one line
	Err    error  // one of the Err sentinels
	Detail string // what was wrong, written after the sentinel's text
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hostsfile: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "hostsfile: "))
	}
	b.WriteString(e.Detail)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Entry is one peer of the hostsfile.
type Entry struct {
	ID   codec.PeerID // 1-based index among non-empty, non-comment lines
	Host string       // hostname or IP address as written, without brackets
	Port int          // 0 when the line gives no port: use the default ports
	Line int          // line number in the file, for error messages
}

// File is a parsed hostsfile. Entries[i].ID == i+1. It is not modified after
// Parse, so any goroutine may read it.
type File struct {
	Entries []Entry
}

// Len is the number of peers.
func (f *File) Len() int { return len(f.Entries) }

// Entry returns the peer with this id, false when id is not in 1..Len.
func (f *File) Entry(id codec.PeerID) (Entry, bool) {
	if id < 1 || uint64(id) > uint64(len(f.Entries)) {
		return Entry{}, false
	}
	return f.Entries[id-1], true
}

// IsIP reports whether Host is an IP address rather than a name.
func (e Entry) IsIP() bool {
	_, err := netip.ParseAddr(e.Host)
	return err == nil
}

func (e Entry) port(defaultPort int) int {
	if e.Port > 0 {
		return e.Port
	}
	return defaultPort
}

// HostPort is the address to reach this peer: Host with Port, or with
// defaultPort when the line gave none.
func (e Entry) HostPort(defaultPort int) string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.port(defaultPort)))
}

// ListenAddr is where this peer listens when it is the entry: host:port when
// Host is an IP address (so several peers can share 127.0.0.1 or use
// 127.0.0.x), otherwise ":port" on all interfaces (as in a container whose
// hostname is the entry).
func (e Entry) ListenAddr(defaultPort int) string {
	if e.IsIP() {
		return e.HostPort(defaultPort)
	}
	return ":" + strconv.Itoa(e.port(defaultPort))
}

// String is the entry as a hostsfile line: "host", "host:port", "[v6]:port"
// or a bare IPv6 address.
func (e Entry) String() string {
	if e.Port > 0 {
		return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	}
	return e.Host
}

// Load reads and parses the hostsfile at path. Errors name the path.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hostsfile: %w", err) // "open PATH: no such file or directory"
	}
	defer fh.Close()
	f, err := Parse(fh)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.Path = path
		}
		return nil, err
	}
	return f, nil
}

const bom = "\xef\xbb\xbf"

// Parse reads a hostsfile. It accepts "\n" and "\r\n" line endings and a
// leading UTF-8 byte order mark. Every problem with the contents is an *Error
// wrapping ErrNoEntries, ErrDuplicate, ErrBadPort, ErrBadHost,
// ErrLineTooLong or ErrTooMany; a read error is returned wrapped.
func Parse(r io.Reader) (*File, error) {
	sc := bufio.NewScanner(r)
	// Room for a full line and its "\r\n"; anything longer stops the scan.
	sc.Buffer(make([]byte, 0, 512), MaxLineLen+2)

	var (
		f      = &File{}
		seen   = make(map[string]int) // duplicate key -> line
		lineNo int
	)
	for sc.Scan() {
		lineNo++
		text := sc.Text()
		if lineNo == 1 {
			text = strings.TrimPrefix(text, bom)
		}
		if len(text) > MaxLineLen {
			return nil, lineTooLong(lineNo)
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		host, port, key, err := parseLine(text)
		if err != nil {
			err.Line = lineNo
			return nil, err
		}
		if prev, dup := seen[key]; dup {
			return nil, &Error{Line: lineNo, Err: ErrDuplicate,
				Detail: fmt.Sprintf(" %s (same as line %d)", quote(text), prev)}
		}
		if len(f.Entries) == MaxEntries {
			return nil, &Error{Line: lineNo, Err: ErrTooMany,
				Detail: fmt.Sprintf(" (at most %d peers)", MaxEntries)}
		}
		seen[key] = lineNo
		f.Entries = append(f.Entries, Entry{
			ID:   codec.PeerID(len(f.Entries) + 1),
			Host: host,
			Port: port,
			Line: lineNo,
		})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineTooLong(lineNo + 1)
		}
		return nil, fmt.Errorf("hostsfile: %w", err)
	}
	if len(f.Entries) == 0 {
		detail := " (the file is empty)"
		if lineNo > 0 {
			detail = " (only blank lines and comments)"
		}
		return nil, &Error{Err: ErrNoEntries, Detail: detail}
	}
	return f, nil
}

func lineTooLong(line int) *Error {
	return &Error{Line: line, Err: ErrLineTooLong, Detail: fmt.Sprintf(" (at most %d bytes)", MaxLineLen)}
}

// parseLine splits one trimmed, comment-free line into host and port and
// returns the key that detects duplicates. The returned *Error has no line.
func parseLine(s string) (host string, port int, key string, _ *Error) {
	var portText string
	hasPort := false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, "", badHost(s, "missing ']'")
		}
		host = s[1:end]
		rest := s[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			portText, hasPort = rest[1:], true
		default:
			return "", 0, "", badHost(s, "unexpected text after ']'")
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", 0, "", badHost(s, "brackets must hold an IPv6 address")
		}
		if !goodZone(a.Zone()) {
			return "", 0, "", badHost(s, badZone)
		}
		key = a.String()
	case strings.Count(s, ":") > 1:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return "", 0, "", badHost(s, "not an IPv6 address (write an IPv6 address with a port as [addr]:port)")
		}
		if !goodZone(a.Zone()) {
			return "", 0, "", badHost(s, badZone)
		}
		host, key = s, a.String()
	default:
		host = s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, portText, hasPort = s[:i], s[i+1:], true
		}
		if a, err := netip.ParseAddr(host); err == nil {
			key = a.String()
		} else if why := checkHostname(host); why != "" {
			return "", 0, "", badHost(host, why)
		} else {
			key = strings.ToLower(host)
		}
	}
	if hasPort {
		p, ok := parsePort(portText)
		if !ok {
			return "", 0, "", &Error{Err: ErrBadPort, Detail: " " + quote(portText) + " (want 1..65535)"}
		}
		port = p
	}
	return host, port, key + "|" + strconv.Itoa(port), nil
}

func badHost(s, why string) *Error {
	return &Error{Err: ErrBadHost, Detail: " " + quote(s) + ": " + why}
}

const badZone = "bad IPv6 zone (letters, digits, '-', '_', '.')"

// goodZone limits an IPv6 zone ("%eth0") to interface-name characters.
func goodZone(z string) bool {
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// parsePort accepts decimal digits only, 1..65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// checkHostname applies RFC 1123 rules, tolerating '_': dot-separated labels
// of letters, digits, '-' and '_', 1..63 bytes each, not starting or ending
// with '-'; at most 253 bytes; the last label not all digits (that would be a
// broken IPv4 address). It returns why s is not a hostname, or "".
func checkHostname(s string) string {
	if s == "" {
		return "empty host"
	}
	if len(s) > 253 {
		return "longer than 253 bytes"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.':
		case c == ' ' || c == '\t':
			return "contains a space (one peer per line)"
		default:
			return fmt.Sprintf("illegal character %q (a hostname has letters, digits, '-', '.')", c)
		}
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "empty label (two dots, or a dot at the start or end)"
		case len(l) > 63:
			return "label longer than 63 bytes"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "label starts or ends with '-'"
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "not a valid IP address or hostname"
	}
	return ""
}

// quote quotes s for an error message, cut short when long.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// Self picks this peer's id. When id != 0 it is checked against 1..Len
// (ErrIDRange). Otherwise hostname (os.Hostname()) is matched to the entries'
// hosts, ignoring case: entries whose host equals hostname win; if there are
// none, an entry also matches when the short names (before the first dot)
// match one way or the other ("one" and "one.example.com"). No match, or more
// than one, is ErrNoSelf with a message telling the user to pass -i.
func (f *File) Self(id int, hostname string) (codec.PeerID, error) {
	n := f.Len()
	if id != 0 {
		if id < 1 || id > n {
			return 0, &Error{Err: ErrIDRange,
				Detail: fmt.Sprintf(": -i %d, but the hostsfile has %d entries (ids 1..%d)", id, n, n)}
		}
		return codec.PeerID(id), nil
	}
	hostname = strings.TrimSuffix(strings.TrimSpace(hostname), ".")
	if hostname == "" {
		return 0, &Error{Err: ErrNoSelf,
			Detail: fmt.Sprintf(": this machine's hostname is empty; pass -i ID (1..%d)", n)}
	}
	var exact, short []codec.PeerID
	for _, e := range f.Entries {
		switch {
		case strings.EqualFold(e.Host, hostname):
			exact = append(exact, e.ID)
		case !e.IsIP() && shortMatch(e.Host, hostname):
			short = append(short, e.ID)
		}
	}
	match := exact
	if len(match) == 0 {
		match = short
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return 0, &Error{Err: ErrNoSelf,
			Detail: fmt.Sprintf(": hostname %s matches no entry; pass -i ID (1..%d)", quote(hostname), n)}
	default:
		return 0, &Error{Err: ErrNoSelf,
			Detail: fmt.Sprintf(": hostname %s matches entries %s; pass -i ID to choose one",
				quote(hostname), codec.FormatIDs(match))}
	}
}

// shortMatch reports whether one name is the other's short name.
func shortMatch(host, hostname string) bool {
	if _, err := netip.ParseAddr(hostname); err == nil {
		return false
	}
	h, _, hDot := strings.Cut(host, ".")
	n, _, nDot := strings.Cut(hostname, ".")
	return (hDot && !nDot && strings.EqualFold(h, hostname)) ||
		(nDot && !hDot && strings.EqualFold(n, host))
}
