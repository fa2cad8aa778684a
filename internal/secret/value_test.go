package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrintsPlainly(t *testing.T) {
	t.Parallel()
	const plain = "correct-horse-battery"
	v := New(plain)
	type exported struct{ Token Value }
	type unexported struct{ token Value }
	var outs []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		outs = append(outs,
			fmt.Sprintf(verb, v),
			fmt.Sprintf(verb, &v),
			fmt.Sprintf(verb, exported{v}),
			fmt.Sprintf(verb, unexported{v}),
			fmt.Sprintf(verb, []Value{v}),
			fmt.Sprintf(verb, map[string]Value{"k": v}),
		)
	}
	js, err := json.Marshal(map[string]any{"v": v, "s": exported{v}})
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js), fmt.Sprint(v), fmt.Sprintln(v))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("msg", "secret", v, "struct", exported{v}, "u", unexported{v})
		l.Info("msg", slog.Any("secret", v), slog.String("s", v.String()))
	}
	outs = append(outs, logs.String())
	for _, o := range outs {
		if strings.Contains(o, plain) || strings.Contains(o, fmt.Sprintf("%x", plain)) {
			t.Fatalf("secret printed plainly: %s", o)
		}
	}
	if !strings.Contains(fmt.Sprint(v), "<secret>") {
		t.Fatalf("Value prints as %q, want <secret>", fmt.Sprint(v))
	}
	if v.Reveal() != plain {
		t.Fatal("Reveal lost the value")
	}
	if (Value{}).Reveal() != "" {
		t.Fatal("zero Value reveals something")
	}
}
