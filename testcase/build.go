package testcase

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildPeer compiles cmd/peer into dir (statically, CGO_ENABLED=0) and
// returns the binary's path. The end-to-end tests here and in hostile use it.
func BuildPeer(dir string) (string, error) {
	bin := filepath.Join(dir, "peer")
	cmd := exec.Command("go", "build", "-o", bin, "peer/cmd/peer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testcase: build peer: %v\n%s", err, out)
	}
	return bin, nil
}
