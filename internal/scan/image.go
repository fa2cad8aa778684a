package scan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/registry"
)

// ImageSource exports a local image's file system layers, the way
// `docker save` does. It never pulls.
//
// Contract: Save returns the tar stream of one image (manifest.json plus
// its layers) or an error wrapping ErrImageNotFound; the caller closes it.
// ctx cancellation aborts the export. Safe for concurrent use.
type ImageSource interface {
	Save(ctx context.Context, ref string) (io.ReadCloser, error)
}

// ErrImageNotFound means the engine has no such image (tug pulls none).
var ErrImageNotFound = errors.New("image not found locally")

// DockerImages is an ImageSource backed by the Docker engine of the
// environment (DOCKER_HOST), negotiating the API version.
type DockerImages struct{ c *client.Client }

var _ ImageSource = (*DockerImages)(nil)

// NewDockerImages connects to the Docker engine lazily.
func NewDockerImages() (*DockerImages, error) {
	c, err := registry.NewClient()
	if err != nil {
		return nil, err
	}
	return &DockerImages{c: c}, nil
}

// Save implements ImageSource.
func (d *DockerImages) Save(ctx context.Context, ref string) (io.ReadCloser, error) {
	if _, err := d.c.ImageInspect(ctx, ref); err != nil {
		if client.IsErrNotFound(err) {
			return nil, fmt.Errorf("%s: %w (tug pulls nothing: build or pull it first)", ref, ErrImageNotFound)
		}
		return nil, err
	}
	return d.c.ImageSave(ctx, []string{ref})
}

// Close releases the engine connection.
func (d *DockerImages) Close() error { return d.c.Close() }

// imageLayer is what tug read from one layer.
type imageLayer struct {
	files    map[string][]byte // package databases
	binaries map[string]string // path in image -> temp file
	removed  []string          // whiteouts
}

// maxDBFile bounds a package database read into memory.
const maxDBFile = 64 << 20

// maxBinary bounds a binary copied out to check its Go build info.
const maxBinary = 512 << 20

// scanImage reads an image's OS packages (dpkg status, apk installed) and
// the Go binaries in it; every component found is matched against the
// advisories and the Go binaries are checked by govulncheck.
func scanImage(ctx context.Context, src ImageSource, ref string, tmpDir string) (comps []Component, binaries map[string]string, osEco string, err error) {
	rc, err := src.Save(ctx, ref)
	if err != nil {
		return nil, nil, "", err
	}
	defer rc.Close()
	layers := map[string]*imageLayer{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("reading image %s: %w", ref, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "manifest.json":
			var m []struct{ Layers []string }
			if err := json.NewDecoder(tr).Decode(&m); err == nil && len(m) > 0 {
				order = m[0].Layers
			}
		case h.Typeflag == tar.TypeReg && (strings.HasSuffix(name, ".tar") || strings.HasPrefix(name, "blobs/")):
			l, err := readLayer(tr, tmpDir)
			if err != nil {
				continue // a config blob or index: not a layer
			}
			layers[name] = l
		}
	}
	// Apply layers in order: later files replace earlier ones.
	files := map[string][]byte{}
	binaries = map[string]string{}
	for _, name := range order {
		l := layers[name]
		if l == nil {
			continue
		}
		for _, r := range l.removed {
			delete(files, r)
			delete(binaries, r)
		}
		for p, b := range l.files {
			files[p] = b
		}
		for p, t := range l.binaries {
			binaries[p] = t
		}
	}
	osEco = "Debian"
	if rel := files["etc/os-release"]; rel != nil {
		for _, line := range strings.Split(string(rel), "\n") {
			if v, ok := strings.CutPrefix(line, "ID="); ok {
				switch strings.Trim(v, `"`) {
				case "ubuntu":
					osEco = "Ubuntu"
				case "alpine":
					osEco = "Alpine"
				}
			}
		}
	}
	for p, b := range files {
		switch {
		case p == "var/lib/dpkg/status" || strings.HasPrefix(p, "var/lib/dpkg/status.d/"):
			comps = append(comps, parseDpkgStatus(b, osEco)...)
		case p == "lib/apk/db/installed":
			comps = append(comps, parseApkInstalled(b)...)
		}
	}
	for p, tmp := range binaries {
		bi, err := buildinfo.ReadFile(tmp)
		if err != nil {
			delete(binaries, p)
			continue
		}
		comps = append(comps, Component{Ecosystem: "Go", Name: "stdlib", Version: bi.GoVersion, Path: "/" + p})
		for _, d := range bi.Deps {
			m := d
			if d.Replace != nil {
				m = d.Replace
			}
			comps = append(comps, Component{Ecosystem: "Go", Name: m.Path, Version: m.Version, Path: "/" + p})
		}
	}
	return comps, binaries, osEco, nil
}

// readLayer reads one layer tar (plain or gzip-compressed).
func readLayer(r io.Reader, tmpDir string) (*imageLayer, error) {
	br := bufio.NewReader(r)
	var lr io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		lr = gz
	}
	tr := tar.NewReader(lr)
	l := &imageLayer{files: map[string][]byte{}, binaries: map[string]string{}}
	first := true
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			if first {
				return nil, err
			}
			return l, nil
		}
		first = false
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		base := path.Base(name)
		if strings.HasPrefix(base, ".wh.") {
			l.removed = append(l.removed, path.Join(path.Dir(name), strings.TrimPrefix(base, ".wh.")))
			continue
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case name == "var/lib/dpkg/status" || strings.HasPrefix(name, "var/lib/dpkg/status.d/") || name == "lib/apk/db/installed" || name == "etc/os-release" || name == "usr/lib/os-release":
			if h.Size > maxDBFile {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			if name == "usr/lib/os-release" {
				name = "etc/os-release"
			}
			l.files[name] = b
		case h.Mode&0o111 != 0 && h.Size > 1024 && h.Size < maxBinary:
			br := bufio.NewReader(tr)
			magic, _ := br.Peek(4)
			if !bytes.Equal(magic, []byte("\x7fELF")) {
				continue
			}
			f, err := os.CreateTemp(tmpDir, "bin-*")
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(f, br)
			f.Close()
			if err != nil {
				return nil, err
			}
			if _, err := buildinfo.ReadFile(f.Name()); err != nil {
				os.Remove(f.Name())
				continue
			}
			l.binaries[name] = f.Name()
		}
	}
}

// parseDpkgStatus reads installed packages from a dpkg status file; the
// source package name is kept as well, as Debian's advisories use it.
func parseDpkgStatus(b []byte, eco string) []Component {
	var out []Component
	for _, para := range strings.Split(string(b), "\n\n") {
		var c Component
		installed := true
		for _, line := range strings.Split(para, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "Package":
				c.Name = v
			case "Version":
				c.Version = v
			case "Source":
				src, _, _ := strings.Cut(v, " ")
				c.Source = src
			case "Status":
				installed = strings.HasSuffix(v, " installed")
			}
		}
		if c.Name != "" && c.Version != "" && installed {
			c.Ecosystem = eco
			out = append(out, c)
		}
	}
	return out
}

// parseApkInstalled reads Alpine's installed database (P: name, V: version).
func parseApkInstalled(b []byte) []Component {
	var out []Component
	var c Component
	flush := func() {
		if c.Name != "" && c.Version != "" {
			c.Ecosystem = "Alpine"
			out = append(out, c)
		}
		c = Component{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "P:"):
			c.Name = line[2:]
		case strings.HasPrefix(line, "V:"):
			c.Version = line[2:]
		case strings.HasPrefix(line, "o:"):
			c.Source = line[2:]
		}
	}
	flush()
	return out
}
