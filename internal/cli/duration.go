package cli

import (
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tugdev/tug/internal/kit"
)

// durationValue is a flag holding a duration in the one syntax users type
// everywhere (kit.ParseDuration): 30s, 1h30m, 7d, 2w. A bad value is bad
// input (exit 2) with the same words as in tug.yaml.
type durationValue struct{ d *time.Duration }

var _ pflag.Value = durationValue{}

// durationVar defines a duration flag on fs.
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationValue{p}, name, usage)
}

func (v durationValue) Set(s string) error {
	d, err := kit.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (v durationValue) Type() string { return "duration" }

// String writes the duration short, in the syntax Set reads: 2h, not
// 2h0m0s.
func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return "0"
	}
	s := v.d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
