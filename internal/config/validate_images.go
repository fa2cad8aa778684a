package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
)

// serviceKind checks that a service runs exactly one thing: a process
// (run), an image, or an image it builds (build_image).
func (v *validator) serviceKind(sp string, s *Service) {
	var set []string
	for _, k := range []string{"run", "image", "build_image"} {
		if v.has(sp + "." + k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		v.errorKey(sp, sp, "service has nothing to run: set run (a process), image (a container) or build_image (a container of an image built from a Dockerfile)")
	case 1:
	default:
		v.errorKey(sp, sp+"."+set[1], "%s conflict: a service has exactly one of run, image or build_image", joinAnd(set))
	}
	if s.BuildImage != nil {
		v.imageBuild(sp+".build_image", s.BuildImage, false)
	}
}

// jobBuildImage checks a build_image job: what to build, and none of the
// keys of a script job that would be silently ignored.
func (v *validator) jobBuildImage(jp string, j *Job) {
	v.imageBuild(jp+".build_image", j.BuildImage, true)
	for _, k := range []string{"image", "pull", "services"} {
		if v.has(jp + "." + k) {
			v.errorKey(jp+"."+k, jp+"."+k, "%s is for jobs that run a script; a build_image job builds through the Docker engine", k)
		}
	}
}

// imageBuild checks one build_image: a repository name without a tag
// (the commit is the tag), paths inside the workspace, ARG names.
func (v *validator) imageBuild(bp string, b *ImageBuild, needName bool) {
	switch {
	case b.Name == "" && needName:
		v.errorKey(bp, bp, "name is required: the image's repository, e.g. name: shop (tug's registry) or registry.example.com/team/shop")
	case b.Name != "":
		if msg := imageNameProblem(b.Name); msg != "" {
			v.errorf(bp+".name", "%s", msg)
		}
	}
	for _, k := range []string{"context", "dockerfile"} {
		p := b.Context
		if k == "dockerfile" {
			p = b.Dockerfile
		}
		if !v.has(bp + "." + k) {
			continue
		}
		clean := filepath.ToSlash(filepath.Clean(p))
		switch {
		case strings.TrimSpace(p) == "":
			v.errorf(bp+"."+k, "empty path: leave the key out for the default")
		case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
			v.errorf(bp+"."+k, "%q is an absolute path: write it relative to the directory of tug.yaml", p)
		case clean == ".." || strings.HasPrefix(clean, "../"):
			v.errorf(bp+"."+k, "%q leaves the repository: the build sees only files inside it", p)
		}
	}
	v.envKeys(bp + ".args")
}

// imageNameProblem says what is wrong with an image repository name, ""
// when nothing is.
func imageNameProblem(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Sprintf("invalid image name %q: %v (lowercase letters, digits and . _ - separated by /, with an optional registry host first)", name, err)
	}
	if !reference.IsNameOnly(named) {
		return fmt.Sprintf("image name %q has a tag or digest: leave it out, the build is tagged with its commit", name)
	}
	return ""
}

// registryListen checks that tug's registry listens on loopback: it has
// no authentication of its own.
func (v *validator) registryListen(path, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return // reported with the port
	}
	if host == "localhost" {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return
	}
	v.errorf(path, "%q is not a loopback address: tug's registry has no authentication, so it listens on 127.0.0.1 (or ::1, localhost) only", addr)
}
