package testcase

import (
	"context"
	"strconv"
	"testing"
)

// buildPeer compiles cmd/peer once for the end-to-end tests.
func buildPeer(t *testing.T) string {
	t.Helper()
	bin, err := BuildPeer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCourseTestcasesLocal runs the four testcases as real processes on
// loopback, with the course's timings halved and a 1 s failure timeout (long
// enough that a busy machine does not cause false suspicions).
func TestCourseTestcasesLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes for about a minute")
	}
	bin := buildPeer(t)
	for _, c := range Cases {
		t.Run("TC"+strconv.Itoa(c.N), func(t *testing.T) {
			dir := t.TempDir()
			run := &Local{
				Binary: bin, Dir: dir, Scale: 0.5,
				Extra: []string{"-hb-interval", "100ms", "-hb-timeout", "1s", "-log-level", "debug"},
			}
			res, err := run.Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if errs := c.Check(res.Output); errs != nil {
				for p := 1; p <= 5; p++ {
					t.Logf("peer %d stderr:\n%s", p, joinLines(res.Stderr[p]))
				}
				for _, e := range errs {
					t.Error(e)
				}
			}
			checkJSONLogs(t, dir, res)
		})
	}
}

func joinLines(l []string) string {
	s := ""
	for _, x := range l {
		s += "  " + x + "\n"
	}
	return s
}

func checkJSONLogs(t *testing.T, dir string, res *Result) {
	t.Helper()
	for _, e := range CheckLogs(dir, res.Output) {
		t.Error(e)
	}
}
