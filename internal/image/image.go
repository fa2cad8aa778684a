// Package image builds container images from Dockerfiles through the
// Docker engine (BuildKit where the engine has it, the classic builder
// otherwise), tags them with the commit they were built from and pushes
// them: to tug's own registry for a bare name, or to the registry a name
// names with the credentials `docker push` would use. Pipeline jobs and
// service deploys build through it, so an image a pipeline pushed for a
// commit is the one a deploy of that commit finds and pins.
package image

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/registry"
)

// ErrBuild means a build or its push failed; the error says where.
var ErrBuild = errors.New("image build failed")

// LabelRevision is the OCI annotation of the commit an image was built
// from.
const LabelRevision = "org.opencontainers.image.revision"

// Request is one image to build, with paths resolved.
type Request struct {
	// Name is the repository as tug.yaml writes it: bare ("shop") or with
	// a registry host ("registry.example.com/team/shop").
	Name string
	// Registry is tug's own registry (server.registry.listen), where bare
	// names go; "" keeps bare names in the local engine.
	Registry string
	// Context is the build context directory; Dockerfile the Dockerfile
	// (default Context/Dockerfile). Both absolute.
	Context, Dockerfile string
	Target              string
	Args                map[string]string
	// Tag is the commit the image is built from.
	Tag string
	// Labels are added to the image (the revision label always is).
	Labels map[string]string
}

// Result is a built (or found) image.
type Result struct {
	// Repository is where the image goes ("127.0.0.1:5000/shop").
	Repository string `json:"repository"`
	// Ref is Repository:Tag.
	Ref string `json:"ref"`
	// ImageID is the engine's ID of the image.
	ImageID string `json:"image_id"`
	// Digest is Repository@sha256:... once the image is in a registry;
	// "" for an image kept in the local engine.
	Digest string `json:"digest,omitempty"`
}

// Pin is what a release records to run exactly this image: the registry
// digest when there is one, else the engine's image ID.
func (r Result) Pin() string { return cmp.Or(r.Digest, r.ImageID) }

// Destination says where an image named name goes: its repository, and
// whether it is pushed (a registry named in name, or tug's own). A bare
// name without tug's registry stays in the local engine.
func Destination(name, tugRegistry string) (repo string, push bool, err error) {
	if _, err := reference.ParseNormalizedNamed(name); err != nil {
		return "", false, fmt.Errorf("image name %q: %w", name, err)
	}
	first, _, hasSlash := strings.Cut(name, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name, true, nil
	}
	if tugRegistry != "" {
		return pushHost(tugRegistry) + "/" + name, true, nil
	}
	return name, false, nil
}

// pushHost is the address the engine reaches a registry listening on addr
// at: loopback for an unspecified host.
func pushHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Options configure a Builder. All fields may be zero.
type Options struct {
	// Client talks to the engine; nil makes one (closed by Close).
	Client client.APIClient
	// LookupEnv reads DOCKER_CONFIG, HOME (registry credentials) and
	// DOCKER_BUILDKIT (0 forces the classic builder, 1 BuildKit); nil
	// means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	// HTTP reaches tug's registry to look a tag up; nil means a client
	// with a 10s timeout.
	HTTP *http.Client
}

// Builder builds, finds and pushes images. Safe for concurrent use.
type Builder struct {
	cli       client.APIClient
	ownClient bool
	lookupEnv func(string) (string, bool)
	log       *slog.Logger
	http      *http.Client

	mu       sync.Mutex
	probed   bool
	buildkit bool // the engine takes BuildKit builds
}

// NewBuilder returns a Builder. It does not contact the engine.
func NewBuilder(o Options) (*Builder, error) {
	b := &Builder{cli: o.Client, lookupEnv: o.LookupEnv, log: o.Logger, http: o.HTTP}
	if b.cli == nil {
		c, err := registry.NewClient()
		if err != nil {
			return nil, err
		}
		b.cli, b.ownClient = c, true
	}
	if b.lookupEnv == nil {
		b.lookupEnv = os.LookupEnv
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.http == nil {
		b.http = &http.Client{Timeout: 10 * time.Second}
	}
	return b, nil
}

// Close closes the engine client the Builder made.
func (b *Builder) Close() error {
	if b.ownClient {
		return b.cli.Close()
	}
	return nil
}

// builderVersion picks BuildKit when the engine has it (API 1.39 or
// newer on Linux) unless DOCKER_BUILDKIT=0 says otherwise, as the docker
// CLI does.
func (b *Builder) builderVersion(ctx context.Context) (build.BuilderVersion, error) {
	if v, ok := b.lookupEnv("DOCKER_BUILDKIT"); ok && v != "" {
		if v == "0" || strings.EqualFold(v, "false") {
			return build.BuilderV1, nil
		}
		return build.BuilderBuildKit, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.probed {
		p, err := b.cli.Ping(ctx)
		if err != nil {
			return "", fmt.Errorf("docker engine: %w", err)
		}
		b.probed = true
		b.buildkit = p.OSType != "windows" && versionAtLeast(p.APIVersion, 1, 39)
	}
	if b.buildkit {
		return build.BuilderBuildKit, nil
	}
	return build.BuilderV1, nil
}

// noBuildKit remembers that the engine refused a BuildKit build.
func (b *Builder) noBuildKit() {
	b.mu.Lock()
	b.buildkit = false
	b.mu.Unlock()
}

// versionAtLeast compares an API version "1.41" with major.minor.
func versionAtLeast(v string, major, minor int) bool {
	var a, c int
	if _, err := fmt.Sscanf(v, "%d.%d", &a, &c); err != nil {
		return false
	}
	return a > major || (a == major && c >= minor)
}

// Build builds req, tags it Repository:Tag and pushes it when it has a
// registry, writing the builder's and the push's progress to out line by
// line. ctx cancels the build.
func (b *Builder) Build(ctx context.Context, req Request, out io.Writer) (Result, error) {
	repo, push, err := Destination(req.Name, req.Registry)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	if req.Tag == "" {
		return Result{}, fmt.Errorf("%w: no tag (the commit) for %s", ErrBuild, repo)
	}
	res := Result{Repository: repo, Ref: repo + ":" + req.Tag}
	if push && req.Registry != "" && strings.HasPrefix(repo, pushHost(req.Registry)+"/") {
		// Say so before a build of minutes, not after it.
		if err := b.registryUp(ctx, pushHost(req.Registry)); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBuild, err)
		}
	}
	if res.ImageID, err = b.build(ctx, req, res.Ref, out); err != nil {
		return Result{}, err
	}
	if !push {
		fmt.Fprintf(out, "tug: built %s (%s); kept in the local engine: no registry to push to (set server.registry, or name one in the image name)\n", res.Ref, registry.ShortID(strings.TrimPrefix(res.ImageID, "sha256:")))
		return res, nil
	}
	return b.push(ctx, res, out)
}

// push pushes res.Ref and fills res.Digest.
func (b *Builder) push(ctx context.Context, res Result, out io.Writer) (Result, error) {
	creds, err := registry.Lookup(ctx, res.Ref, b.lookupEnv)
	if err != nil {
		return Result{}, fmt.Errorf("%w: push %s: %w", ErrBuild, res.Ref, err)
	}
	if creds.Source != "" {
		fmt.Fprintf(out, "tug: pushing %s (credentials from %s)\n", res.Ref, creds.Source)
	} else {
		fmt.Fprintf(out, "tug: pushing %s\n", res.Ref)
	}
	d, err := registry.Push(ctx, b.cli, res.Ref, creds, func(line string) { fmt.Fprintf(out, "push: %s\n", line) })
	if err != nil {
		return Result{}, fmt.Errorf("%w: push %s: %w", ErrBuild, res.Ref, err)
	}
	res.Digest = res.Repository + "@" + d
	fmt.Fprintf(out, "tug: pushed %s\n", res.Digest)
	return res, nil
}

// Find looks for the image req would build, already built for req.Tag:
// in the local engine, pushed (or pushed now, if it never was) when it
// has a registry; else in tug's registry, from where the runtime pulls
// it. found is false when it must be built.
func (b *Builder) Find(ctx context.Context, req Request, out io.Writer) (res Result, found bool, err error) {
	repo, push, err := Destination(req.Name, req.Registry)
	if err != nil {
		return Result{}, false, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	res = Result{Repository: repo, Ref: repo + ":" + req.Tag}
	insp, err := b.cli.ImageInspect(ctx, res.Ref)
	switch {
	case err == nil:
		res.ImageID = insp.ID
		if !push {
			return res, true, nil
		}
		for _, rd := range insp.RepoDigests {
			if strings.HasPrefix(rd, repo+"@") {
				res.Digest = rd
				return res, true, nil
			}
		}
		res, err = b.push(ctx, res, out)
		return res, err == nil, err
	case !cerrdefs.IsNotFound(err):
		return Result{}, false, fmt.Errorf("inspect image %s: %w", res.Ref, err)
	}
	if push && req.Registry != "" && strings.HasPrefix(repo, pushHost(req.Registry)+"/") {
		d, ok, err := b.remoteDigest(ctx, pushHost(req.Registry), strings.TrimPrefix(repo, pushHost(req.Registry)+"/"), req.Tag)
		if err != nil || !ok {
			return Result{}, false, err
		}
		res.Digest = repo + "@" + d
		return res, true, nil
	}
	return Result{}, false, nil
}

// registryUp checks that tug's registry answers at host.
func (b *Builder) registryUp(ctx context.Context, host string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return fmt.Errorf("tug's registry at %s is not answering (%v): start `tug server` (or `tug up`), which serves it on server.registry.listen", host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s does not answer as tug's registry (%s): is another program listening on server.registry.listen?", host, resp.Status)
	}
	return nil
}

// remoteDigest asks tug's registry (plain HTTP on loopback) for the
// digest of name:tag.
func (b *Builder) remoteDigest(ctx context.Context, host, name, tag string) (string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, "http://"+host+"/v2/"+name+"/manifests/"+tag, nil)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.oci.image.index.v1+json",
	}, ", "))
	resp, err := b.http.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("tug's registry at %s: %w", host, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", false, nil
	case resp.StatusCode != http.StatusOK:
		return "", false, fmt.Errorf("tug's registry at %s: %s for %s:%s", host, resp.Status, name, tag)
	}
	d := resp.Header.Get("Docker-Content-Digest")
	return d, d != "", nil
}

// build runs one engine build of req tagged ref and returns the image ID.
func (b *Builder) build(ctx context.Context, req Request, ref string, out io.Writer) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBuild, fmt.Sprintf(format, args...))
	}
	fi, err := os.Stat(req.Context)
	if err != nil || !fi.IsDir() {
		return fail("context %s is not a directory", req.Context)
	}
	dockerfile := cmp.Or(req.Dockerfile, filepath.Join(req.Context, "Dockerfile"))
	if _, err := os.Stat(dockerfile); err != nil {
		return fail("dockerfile %s: %v", dockerfile, errors.Unwrap(err))
	}
	extra := map[string]string{}
	dfName, err := filepath.Rel(req.Context, dockerfile)
	if err != nil || dfName == ".." || strings.HasPrefix(dfName, ".."+string(filepath.Separator)) {
		// Outside the context: sent beside it under a name of its own.
		dfName = ".tug-Dockerfile"
		extra[dfName] = dockerfile
	}
	dfName = filepath.ToSlash(dfName)
	version, err := b.builderVersion(ctx)
	if err != nil {
		return fail("%v", err)
	}
	id, err := b.engineBuild(ctx, req, ref, dfName, extra, version, out)
	if err != nil && version == build.BuilderBuildKit && buildkitUnsupported(err) {
		fmt.Fprintf(out, "tug: the engine has no BuildKit (%v); building with the classic builder\n", err)
		b.noBuildKit()
		id, err = b.engineBuild(ctx, req, ref, dfName, extra, build.BuilderV1, out)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%w: build of %s stopped: %w", ErrBuild, ref, ctx.Err())
		}
		return fail("%s: %v", ref, err)
	}
	return id, nil
}

// buildkitUnsupported says whether an engine refused a BuildKit build for
// not having it.
func buildkitUnsupported(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "buildkit") && (strings.Contains(s, "not supported") || strings.Contains(s, "not enabled"))
}

// engineBuild streams the context to the engine and follows its
// progress.
func (b *Builder) engineBuild(ctx context.Context, req Request, ref, dockerfile string, extra map[string]string, version build.BuilderVersion, out io.Writer) (string, error) {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContext(pw, req.Context, dockerfile, extra))
	}()
	defer pr.Close()
	args := map[string]*string{}
	for k, v := range req.Args {
		args[k] = &v
	}
	labels := map[string]string{LabelRevision: req.Tag}
	for k, v := range req.Labels {
		labels[k] = v
	}
	kind := "classic builder"
	if version == build.BuilderBuildKit {
		kind = "BuildKit"
	}
	fmt.Fprintf(out, "tug: building %s from %s (%s)\n", ref, req.Context, kind)
	resp, err := b.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  dockerfile,
		Target:      req.Target,
		BuildArgs:   args,
		Labels:      labels,
		Version:     version,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	id, err := followBuild(resp.Body, out)
	if err != nil {
		return "", err
	}
	if id == "" {
		insp, err := b.cli.ImageInspect(ctx, ref)
		if err != nil {
			return "", fmt.Errorf("inspect built image: %w", err)
		}
		id = insp.ID
	}
	return id, nil
}
