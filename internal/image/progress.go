package image

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// buildMessage is one JSON message of the engine's build stream: the
// classic builder's output lines, BuildKit's progress (a protobuf
// StatusResponse, base64, under id moby.buildkit.trace), the image ID,
// or an error.
type buildMessage struct {
	ID          string          `json:"id"`
	Stream      string          `json:"stream"`
	Aux         json.RawMessage `json:"aux"`
	Error       string          `json:"error"`
	ErrorDetail struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// followBuild copies a build's progress to out as lines and returns the
// image ID it reports ("" when it reports none), or the build's error.
func followBuild(r io.Reader, out io.Writer) (string, error) {
	dec := json.NewDecoder(r)
	var partial strings.Builder
	flush := func(s string) {
		partial.WriteString(s)
		text := partial.String()
		i := strings.LastIndexByte(text, '\n')
		if i < 0 {
			return
		}
		for _, l := range strings.Split(text[:i], "\n") {
			if l = strings.TrimRight(l, "\r "); l != "" {
				fmt.Fprintln(out, l)
			}
		}
		partial.Reset()
		partial.WriteString(text[i+1:])
	}
	bk := newTraceLog(out)
	id := ""
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading the engine's build progress: %w", err)
		}
		if msg := cmp.Or(m.ErrorDetail.Message, m.Error); msg != "" {
			flush("\n")
			return "", errors.New(strings.TrimSpace(msg))
		}
		if m.Stream != "" {
			flush(m.Stream)
		}
		if len(m.Aux) == 0 {
			continue
		}
		switch m.ID {
		case "moby.buildkit.trace":
			var b64 string
			if json.Unmarshal(m.Aux, &b64) == nil {
				if raw, err := base64.StdEncoding.DecodeString(b64); err == nil {
					bk.status(raw)
				}
			}
		default:
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && strings.HasPrefix(aux.ID, "sha256:") {
				id = aux.ID
			}
		}
	}
	flush("\n")
	return id, nil
}

// traceLog prints BuildKit's progress as the docker CLI's plain output
// does: each step once when it starts, CACHED, DONE or ERROR when it ends,
// and the lines its commands print.
type traceLog struct {
	out     io.Writer
	num     map[string]int // vertex digest -> step number
	done    map[string]bool
	partial map[string]*bytes.Buffer
}

func newTraceLog(out io.Writer) *traceLog {
	return &traceLog{out: out, num: map[string]int{}, done: map[string]bool{}, partial: map[string]*bytes.Buffer{}}
}

// vertex is the part of BuildKit's Vertex message the log shows.
type vertex struct {
	digest, name, err  string
	cached             bool
	started, completed bool
}

// status decodes one StatusResponse: vertexes (field 1) and logs (3).
func (t *traceLog) status(b []byte) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch num {
		case 1:
			t.vertex(parseVertex(v))
		case 3:
			vtx, msg := parseLog(v)
			t.log(vtx, msg)
		}
	}
}

// parseVertex reads Vertex{1 digest, 3 name, 4 cached, 5 started,
// 6 completed, 7 error}.
func parseVertex(b []byte) vertex {
	var v vertex
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return v
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType:
			val, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return v
			}
			b = b[n:]
			switch num {
			case 1:
				v.digest = string(val)
			case 3:
				v.name = string(val)
			case 5:
				v.started = true
			case 6:
				v.completed = true
			case 7:
				v.err = string(val)
			}
		case typ == protowire.VarintType:
			val, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return v
			}
			b = b[n:]
			if num == 4 {
				v.cached = val != 0
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return v
			}
			b = b[n:]
		}
	}
	return v
}

// parseLog reads VertexLog{1 vertex, 4 msg}.
func parseLog(b []byte) (vtx string, msg []byte) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.BytesType {
			val, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return
			}
			b = b[n:]
			switch num {
			case 1:
				vtx = string(val)
			case 4:
				msg = val
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return
		}
		b = b[n:]
	}
	return
}

func (t *traceLog) vertex(v vertex) {
	if v.digest == "" || t.done[v.digest] {
		return
	}
	n, seen := t.num[v.digest]
	if !seen && (v.started || v.cached || v.err != "") {
		n = len(t.num) + 1
		t.num[v.digest] = n
		fmt.Fprintf(t.out, "#%d %s\n", n, v.name)
	}
	if !seen && !v.started && !v.cached && v.err == "" {
		return
	}
	switch {
	case v.err != "":
		t.done[v.digest] = true
		fmt.Fprintf(t.out, "#%d ERROR: %s\n", n, v.err)
	case v.cached:
		t.done[v.digest] = true
		fmt.Fprintf(t.out, "#%d CACHED\n", n)
	case v.completed:
		t.done[v.digest] = true
		fmt.Fprintf(t.out, "#%d DONE\n", n)
	}
}

func (t *traceLog) log(vtx string, msg []byte) {
	n := t.num[vtx]
	buf := t.partial[vtx]
	if buf == nil {
		buf = &bytes.Buffer{}
		t.partial[vtx] = buf
	}
	buf.Write(msg)
	for {
		line, err := buf.ReadString('\n')
		if err != nil {
			// Not a whole line yet: keep it for the next message.
			rest := []byte(line)
			buf.Reset()
			buf.Write(rest)
			return
		}
		fmt.Fprintf(t.out, "#%d %s\n", n, strings.TrimRight(line, "\r\n"))
	}
}
