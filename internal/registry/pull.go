package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
)

// Puller is the part of the Docker client a pull needs; the client's
// ImagePull is safe for concurrent use and honours ctx.
type Puller interface {
	ImagePull(ctx context.Context, ref string, opts image.PullOptions) (io.ReadCloser, error)
}

// Pull pulls ref through the engine with creds (see Lookup) and waits
// until it is done. The engine reports failures inside its progress
// stream; they come back as errors.
func Pull(ctx context.Context, p Puller, ref string, creds Credentials) error {
	rc, err := p.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: creds.Header})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the engine's progress: %w", err)
		}
		if m := cmp.Or(msg.ErrorDetail.Message, msg.Error); m != "" {
			return fmt.Errorf("%s", m)
		}
	}
}
