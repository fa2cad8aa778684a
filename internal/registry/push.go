package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
	dockerregistry "github.com/docker/docker/api/types/registry"
)

// Pusher is the part of the Docker client a push needs; the client's
// ImagePush is safe for concurrent use and honours ctx.
type Pusher interface {
	ImagePush(ctx context.Context, ref string, opts image.PushOptions) (io.ReadCloser, error)
}

// Push pushes ref (repository:tag) through the engine with creds (see
// Lookup) and returns the digest the registry stored its manifest under.
// Each layer's progress, once per change of its status, goes to progress
// (nil drops it). The engine reports failures inside its progress
// stream; they come back as errors.
func Push(ctx context.Context, p Pusher, ref string, creds Credentials, progress func(line string)) (string, error) {
	auth := creds.Header
	if auth == "" {
		// The engine wants the header even for a registry without
		// authentication: an empty configuration.
		var err error
		if auth, err = dockerregistry.EncodeAuthConfig(dockerregistry.AuthConfig{}); err != nil {
			return "", err
		}
	}
	rc, err := p.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	digest := ""
	last := map[string]string{}
	for {
		var msg struct {
			ID          string `json:"id"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux struct {
				Digest string `json:"Digest"`
			} `json:"aux"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading the engine's progress: %w", err)
		}
		if m := cmp.Or(msg.ErrorDetail.Message, msg.Error); m != "" {
			return "", fmt.Errorf("%s", m)
		}
		if msg.Aux.Digest != "" {
			digest = msg.Aux.Digest
		}
		if progress != nil && msg.Status != "" && last[msg.ID] != msg.Status {
			last[msg.ID] = msg.Status
			progress(strings.TrimSpace(msg.ID + " " + msg.Status))
		}
	}
	if digest == "" {
		return "", fmt.Errorf("push %s: the engine reported no digest", ref)
	}
	return digest, nil
}
