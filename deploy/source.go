package deploy

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The source path of ./Dockerfile (the one the course runs, `docker build .
// -t prj3`) starts from golang:1.26, which this machine cannot pull. To test
// everything else about that path, CheckSource builds it with
// --build-arg GO_IMAGE=StandIn: a local image made here from this machine's
// own Go toolchain and the module's dependencies (no shell, no Debian userland),
// then compares the result with the image from deploy/Dockerfile.local.
const (
	StandIn     = "prj3-go-standin:local"
	SourceImage = "prj3-source:check"
)

// CheckSource builds image SourceImage from ./Dockerfile on the stand-in Go
// image and compares it with image local (built by BuildLocal): the same
// configuration (entrypoint, working directory, user, ports), the same files,
// and a byte-identical binary. It removes SourceImage, the build stage's
// images and the stand-in afterwards. say reports progress.
func (e *Engine) CheckSource(ctx context.Context, root, local string, say func(string, ...any)) (errs []error) {
	defer func() {
		if err := removeImageTree(context.WithoutCancel(ctx), StandIn, SourceImage); err != nil {
			errs = append(errs, err)
		}
	}()
	root, err := filepath.Abs(root)
	if err != nil {
		return []error{err}
	}
	start := time.Now()
	if err := e.buildStandIn(ctx, root); err != nil {
		return []error{err}
	}
	say("stand-in %s imported in %.1fs", StandIn, time.Since(start).Seconds())
	start = time.Now()
	cmd := exec.CommandContext(ctx, "docker", "build", "--build-arg", "GO_IMAGE="+StandIn, "-t", SourceImage, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return []error{fmt.Errorf("docker build --build-arg GO_IMAGE=%s .: %v\n%s", StandIn, err, out)}
	}
	say("docker build --build-arg GO_IMAGE=%s -t %s . in %.1fs", StandIn, SourceImage, time.Since(start).Seconds())
	const config = `{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.WorkingDir}} {{json .Config.User}} {{json .Config.ExposedPorts}} {{json .Config.Env}} {{.Os}}/{{.Architecture}}`
	var conf [2]string
	var files [2][]string
	for i, img := range []string{local, SourceImage} {
		out, err := output(ctx, "docker", "image", "inspect", "-f", config, img)
		if err != nil {
			return append(errs, err)
		}
		conf[i] = strings.TrimSpace(out)
		if files[i], err = imageFiles(ctx, img); err != nil {
			return append(errs, err)
		}
	}
	a, b := imageIDs(ctx, local, SourceImage)
	say("image ids (they differ in build history and dates, not in content): %s %.19s, %s %.19s", local, a, SourceImage, b)
	say("%s: %s", local, conf[0])
	say("%s: %s", SourceImage, conf[1])
	if conf[0] != conf[1] {
		errs = append(errs, fmt.Errorf("image configurations differ:\n  %s: %s\n  %s: %s", local, conf[0], SourceImage, conf[1]))
	}
	for _, f := range files[0] {
		say("%s: %s", local, f)
	}
	if !slices.Equal(files[0], files[1]) {
		errs = append(errs, fmt.Errorf("image files differ:\n  %s: %q\n  %s: %q", local, files[0], SourceImage, files[1]))
	}
	return errs
}

func imageIDs(ctx context.Context, a, b string) (string, string) {
	x, _ := imageID(ctx, a)
	y, _ := imageID(ctx, b)
	return x, y
}

// buildStandIn imports StandIn: GOROOT at /usr/local/go, a module cache with
// just this module's dependencies at /go/pkg/mod (taken from this machine's
// cache, offline), /tmp, and the environment of the official image.
func (e *Engine) buildStandIn(ctx context.Context, root string) error {
	goroot, err := output(ctx, "go", "env", "GOROOT")
	if err != nil {
		return err
	}
	goroot = strings.TrimSpace(goroot)
	hostCache, err := output(ctx, "go", "env", "GOMODCACHE", "GOPROXY")
	if err != nil {
		return err
	}
	hc := strings.Fields(hostCache)
	tmp, err := os.MkdirTemp("", "prj3-standin-")
	if err != nil {
		return err
	}
	defer func() {
		// The module cache is read-only; make it writable to remove it.
		filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(tmp)
	}()
	modcache := filepath.Join(tmp, "mod")
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = root
	proxy := "file://" + filepath.Join(hc[0], "cache", "download")
	if len(hc) > 1 && hc[1] != "off" {
		proxy += "," + hc[1]
	}
	dl.Env = append(os.Environ(), "GOMODCACHE="+modcache, "GOPROXY="+proxy, "GOFLAGS=-mod=mod")
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod download into the stand-in's cache: %v\n%s", err, out)
	}

	imp := exec.CommandContext(ctx, "docker", "import",
		"--change", "ENV PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin",
		"--change", "ENV GOPATH=/go",
		"--change", "ENV GOTOOLCHAIN=local",
		"--change", "ENV GOPROXY=off",
		"--change", "ENV HOME=/root",
		"--change", "WORKDIR /go",
		"-", StandIn)
	pr, pw := io.Pipe()
	imp.Stdin = pr
	var impOut strings.Builder
	imp.Stdout, imp.Stderr = &impOut, &impOut
	if err := imp.Start(); err != nil {
		return err
	}
	werr := writeStandInTar(pw, goroot, modcache)
	pw.CloseWithError(werr)
	if err := imp.Wait(); err != nil || werr != nil {
		return fmt.Errorf("docker import %s: %v %v\n%s", StandIn, werr, err, impOut.String())
	}
	return nil
}

func writeStandInTar(w io.Writer, goroot, modcache string) error {
	tw := tar.NewWriter(w)
	for _, d := range []struct {
		name string
		mode int64
	}{{"tmp/", 0o1777}, {"root/", 0o700}, {"go/", 0o755}, {"go/bin/", 0o755}, {"go/pkg/", 0o755}, {"usr/", 0o755}, {"usr/local/", 0o755}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}); err != nil {
			return err
		}
	}
	if err := addTree(tw, goroot, "usr/local/go"); err != nil {
		return err
	}
	if err := addTree(tw, modcache, "go/pkg/mod"); err != nil {
		return err
	}
	return tw.Close()
}

// addTree writes the directory src into the archive as dst.
func addTree(tw *tar.Writer, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := filepath.ToSlash(filepath.Join(dst, rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = name
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

// imageFiles lists an image's files, one "path mode size sha256" each, from
// `docker export` of a container created (not started) from it.
func imageFiles(ctx context.Context, image string) ([]string, error) {
	id, err := output(ctx, "docker", "create", image)
	if err != nil {
		return nil, err
	}
	id = strings.TrimSpace(id)
	defer output(context.WithoutCancel(ctx), "docker", "rm", "-f", id)
	cmd := exec.CommandContext(ctx, "docker", "export", id)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var files []string
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cmd.Wait()
			return nil, err
		}
		// The engine adds the mount points of every container; they are not the image's.
		if isMountPoint(h.Name) {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			cmd.Wait()
			return nil, err
		}
		files = append(files, fmt.Sprintf("/%s %v %d sha256:%s", strings.TrimSuffix(h.Name, "/"), fs.FileMode(h.Mode), h.Size, hex.EncodeToString(sum.Sum(nil))[:16]))
	}
	if err := cmd.Wait(); err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

func isMountPoint(name string) bool {
	name = "/" + strings.TrimSuffix(name, "/")
	for _, m := range []string{"/.dockerenv", "/dev", "/etc", "/proc", "/sys"} {
		if name == m || strings.HasPrefix(name, m+"/") {
			return true
		}
	}
	return false
}

// removeImageTree removes the tagged images top (and every image built on
// it, such as a build stage's intermediate images) and others. Images that do
// not exist are fine.
func removeImageTree(ctx context.Context, top string, others ...string) error {
	for _, img := range others {
		if _, err := output(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", img); err == nil {
			if _, err := output(ctx, "docker", "rmi", img); err != nil {
				return err
			}
		}
	}
	topID, err := output(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", top)
	if err != nil {
		return nil // gone already
	}
	topID = strings.TrimSpace(topID)
	all, err := output(ctx, "docker", "images", "-a", "-q", "--no-trunc")
	if err != nil {
		return err
	}
	ids := slices.Compact(slices.Sorted(slices.Values(strings.Fields(all))))
	parent := map[string]string{}
	if len(ids) > 0 {
		out, err := output(ctx, "docker", append([]string{"image", "inspect", "-f", "{{.Id}} {{.Parent}}"}, ids...)...)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				parent[f[0]] = f[1]
			}
		}
	}
	// Leaves first: an image descending from top that is nobody's parent.
	descends := func(id string) bool {
		for p := parent[id]; p != ""; p = parent[p] {
			if p == topID {
				return true
			}
		}
		return false
	}
	isParent := map[string]bool{}
	for _, p := range parent {
		isParent[p] = true
	}
	for id := range parent {
		if descends(id) && !isParent[id] {
			if _, err := output(ctx, "docker", "rmi", id); err != nil {
				return err
			}
		}
	}
	_, err = output(ctx, "docker", "rmi", top)
	return err
}
