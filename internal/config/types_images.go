package config

// The image keys of tug.yaml: a pipeline job or a service builds an image
// from a Dockerfile (`build_image:`), tagged with the commit and pushed to
// tug's own registry (server.registry) or to the one its name names.

// ImageBuild builds an image from a Dockerfile through the Docker engine
// (BuildKit where the engine has it, the classic builder otherwise).
type ImageBuild struct {
	// The image's repository: a bare name (`shop`) goes to tug's own
	// registry (server.registry) or, without one, stays in the local
	// engine; a name with a registry host (`registry.example.com/team/shop`)
	// is pushed there with the credentials `docker push` would use. The tag
	// is the commit. Required on a job; on a service the default is the
	// service's name. Example: `name: shop`.
	Name string `yaml:"name" json:"name,omitempty"`
	// The build context: a directory relative to tug.yaml, inside the
	// repository; .dockerignore applies and the state directory (.tug) is
	// never sent. Default: `.`. Example: `context: services/shop`.
	Context string `yaml:"context" json:"context,omitempty"`
	// The Dockerfile, relative to tug.yaml. Default: Dockerfile in the
	// context. Example: `dockerfile: build/shop.Dockerfile`.
	Dockerfile string `yaml:"dockerfile" json:"dockerfile,omitempty"`
	// The stage of a multi-stage Dockerfile to build. Default: the last
	// stage. Example: `target: runtime`.
	Target string `yaml:"target" json:"target,omitempty"`
	// Build arguments (ARG values). Default: none. Example: `args:
	// {GO_VERSION: "1.26"}`.
	Args map[string]string `yaml:"args" json:"args,omitempty"`
}

// RunsContainers says whether the service runs as containers: an image,
// or one it builds.
func (s *Service) RunsContainers() bool { return s.Image != "" || s.BuildImage != nil }
