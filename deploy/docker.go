package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Errors.
var (
	ErrNoEngine  = errors.New("deploy: no Docker engine answers")
	ErrNoCompose = errors.New("deploy: neither `docker compose` nor `docker-compose` works")
	ErrNameTaken = errors.New("deploy: a container name the compose files need is taken")
)

// Engine is the Docker engine and compose command this machine has.
type Engine struct {
	Compose []string // "docker compose" when that plugin works, else "docker-compose"
	Version string   // the engine's version
	OS      string   // the engine's GOOS and GOARCH: the image's platform
	Arch    string
}

// FindEngine checks that a Docker engine answers and finds a compose command.
func FindEngine(ctx context.Context) (*Engine, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("%w: no docker command", ErrNoEngine)
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := output(ictx, "docker", "version", "--format", "{{.Server.Version}} {{.Server.Os}} {{.Server.Arch}}")
	f := strings.Fields(out)
	if err != nil || len(f) != 3 {
		return nil, fmt.Errorf("%w: docker version: %v %s", ErrNoEngine, err, strings.TrimSpace(out))
	}
	e := &Engine{Version: f[0], OS: f[1], Arch: f[2]}
	if _, err := output(ictx, "docker", "compose", "version"); err == nil {
		e.Compose = []string{"docker", "compose"}
	} else if path, err := exec.LookPath("docker-compose"); err == nil {
		e.Compose = []string{path}
	} else {
		return nil, ErrNoCompose
	}
	return e, nil
}

// BuildLocal builds image tag from deploy/Dockerfile.local, with the peer
// compiled on this machine for the engine's platform (static, as in the
// Dockerfile's build stage). Nothing is pulled. root is the repository.
func (e *Engine) BuildLocal(ctx context.Context, root, tag string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "prj3", "peer")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/peer")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+e.OS, "GOARCH="+e.Arch)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("deploy: go build for %s/%s: %v\n%s", e.OS, e.Arch, err, out)
	}
	old, _ := imageID(ctx, tag)
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-f", filepath.Join(root, "deploy", "Dockerfile.local"), "-t", tag, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deploy: docker build: %v\n%s", err, out)
	}
	// The image this one replaces would be left untagged: remove it (and its
	// layers), unless a container still uses it.
	if id, _ := imageID(ctx, tag); old != "" && id != old {
		output(ctx, "docker", "rmi", old)
	}
	return nil
}

// imageID is the id of an image, "" and an error when there is none.
func imageID(ctx context.Context, image string) (string, error) {
	out, err := output(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", image)
	return strings.TrimSpace(out), err
}

// output runs a command and returns its stdout; on failure the error carries
// its stderr.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
