package hostile

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A group started with one -status value (+N: each peer at its own port plus
// N) answers GET /status with each peer's state, and `peer status -h
// HOSTSFILE -status +N` prints a row for every peer: the state of the ones
// that run, and for a killed one a row and a line that say it is
// unreachable. Asking changes nothing: the peers print only what the kill
// causes.
func TestStatus(t *testing.T) {
	c := newCluster(t, 3, hbFlags...)
	offset := freeOffset(t, c.addrs)
	form := "+" + strconv.Itoa(offset)
	c.flags = append(c.flags, "-status", form)
	for id := 1; id <= 3; id++ {
		c.start(id)
	}
	c.waitView(1, 2, 3)
	m := c.mark()

	resp, err := http.Get("http://" + shifted(t, c.addr(2), offset) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ID        int    `json:"id"`
		Role      string `json:"role"`
		Leader    int    `json:"leader"`
		ViewID    int    `json:"view_id"`
		Members   []int  `json:"members"`
		Suspected []int  `json:"suspected"`
		Pending   any    `json:"pending"`
	}
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status: %d %v", resp.StatusCode, err)
	}
	if s.ID != 2 || s.Role != "member" || s.Leader != 1 || s.ViewID != 3 || !slices.Equal(s.Members, []int{1, 2, 3}) ||
		s.Suspected == nil || len(s.Suspected) != 0 || s.Pending != nil {
		t.Fatalf("peer 2's status: %+v", s)
	}

	table := func(wantCode int) [][]string {
		t.Helper()
		out, err := exec.Command(c.bin, "status", "-h", c.hosts, "-status", form).Output()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("peer status: exit %d, want %d; stdout:\n%s", code, wantCode, out)
		}
		var rows [][]string
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			rows = append(rows, strings.Fields(line))
		}
		return rows
	}
	rows := table(0)
	if len(rows) != 4 || rows[0][0] != "PEER" {
		t.Fatalf("table: %q", rows)
	}
	for id, role := range []string{"", "leader", "member", "member"} {
		if id == 0 {
			continue
		}
		want := []string{strconv.Itoa(id), shifted(t, c.addr(id), offset), role, "1", "1", "3", "1", "[1,2,3]", "-", "-", "-", "-"}
		if !slices.Equal(rows[id], want) {
			t.Errorf("row %d: %q, want %q", id, rows[id], want)
		}
	}

	c.proc(3).cmd.Process.Kill()
	c.waitView(1, 2)
	rows = table(1)
	if len(rows) != 6 || !slices.Equal(rows[3][:3], []string{"3", shifted(t, c.addr(3), offset), "unreachable"}) ||
		!strings.HasPrefix(strings.Join(rows[5], " "), "peer 3 at "+shifted(t, c.addr(3), offset)+": connection refused") ||
		rows[1][7] != "[1,2]" || rows[2][7] != "[1,2]" {
		t.Fatalf("table after the kill: %q", rows)
	}
	for _, id := range []int{1, 2} {
		c.checkLines(m, id, "peer 3 unreachable", view(1, 1, 2))
	}
	c.checkAlive(1, 2)
}

// freeOffset is an offset N such that every address's port plus N is a free
// loopback port now.
func freeOffset(t *testing.T, addrs []string) int {
	t.Helper()
	for offset := 1000; offset < 30000; offset += 997 {
		var held []net.Listener
		free := true
		for _, a := range addrs {
			_, p, _ := net.SplitHostPort(a)
			port, _ := strconv.Atoi(p)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+offset)))
			if err != nil {
				free = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if free {
			return offset
		}
	}
	t.Fatal("no offset leaves every status port free")
	return 0
}

// shifted is addr with its port plus offset.
func shifted(t *testing.T, addr string, offset int) string {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	port, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("address %q", addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+offset))
}
