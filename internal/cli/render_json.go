package cli

import (
	"encoding/json"
	"io"

	"github.com/tugdev/tug/internal/pipeline"
)

// jsonRenderer prints every event as one JSON object per line, the
// pipeline.Event as it is, for machines.
type jsonRenderer struct {
	w    io.Writer
	mask func(string) string
}

var _ renderer = (*jsonRenderer)(nil)

func newJSONRenderer(w io.Writer, mask func(string) string) *jsonRenderer {
	return &jsonRenderer{w: w, mask: mask}
}

// Observe writes ev on its own line.
func (j *jsonRenderer) Observe(ev pipeline.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	io.WriteString(j.w, j.mask(string(b))+"\n")
}

// Finish adds nothing: run_finished already closed the stream.
func (j *jsonRenderer) Finish(*pipeline.Result) {}
