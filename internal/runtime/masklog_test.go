package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// maskLogArgv runs this test binary as the masking writer (see TestMain).
func maskLogArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, MaskLogCommand}
}

const maskedToken = "s3cr3t/tok+en=&x-9f2"

// leakForms are the forms of maskedToken the instance prints.
var leakForms = []string{
	maskedToken,
	"s3cr3t/tok%2Ben%3D%26x-9f2", // Python's urllib.parse.quote
	`s3cr3t/tok+en=\u0026x-9f2`,  // Go's encoding/json
	base64.StdEncoding.EncodeToString([]byte(maskedToken)),
}

// printingSpec prints the token in several forms, one of them split
// across two writes a moment apart, then serves.
func printingSpec(t *testing.T, id string) Spec {
	spec := appSpec(t, id)
	spec.Command = `echo "start $$"
echo "plain=$TOKEN"
echo "quoted=` + leakForms[1] + `"
echo 'json={"t":"` + leakForms[2] + `"}'
echo "b64=$(printf %s "$TOKEN" | base64 -w0)"
printf 'split=%s' "${TOKEN%????}"; sleep 0.2; printf '%s\n' "${TOKEN#"${TOKEN%????}"}"
echo "done $$"
exec "$APP"`
	spec.Secrets = map[string]secret.Value{"TOKEN": secret.New(maskedToken)}
	return spec
}

func readOutput(t *testing.T, state, id string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(state, "instances", id, logName))
	return string(b)
}

func assertMasked(t *testing.T, what, out string) {
	t.Helper()
	for _, f := range leakForms {
		if strings.Contains(out, f) {
			t.Fatalf("%s holds the secret as %q:\n%s", what, f, out)
		}
	}
	for _, want := range []string{"plain=***", "quoted=***", `json={"t":"***"}`, "b64=***", "split=***"} {
		if !strings.Contains(out, want) {
			t.Fatalf("%s lacks %q:\n%s", what, want, out)
		}
	}
}

// maskWriters lists the PIDs of masking writers running for instance id.
func maskWriters(id string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.HasSuffix(cmd, []byte("\x00"+MaskLogCommand+"\x00"+id+"\x00")) {
			if st, err := readProcStat(pid); err == nil && st.state != 'Z' {
				out = append(out, pid)
			}
		}
	}
	return out
}

// What a service with secrets prints reaches its log file (and so the
// logs database, which tails it, and Logs) with those secrets masked,
// however encoded and however the writes were split.
func TestProcessOutputMasksItsSecrets(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p := newTestProcess(t, state, func(o *ProcessOptions) { o.MaskLog = maskLogArgv(t) })
	in, err := p.Start(context.Background(), printingSpec(t, "mask-1"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the output", func() bool {
		return strings.Contains(readOutput(t, state, "mask-1"), "done ")
	})
	assertMasked(t, "output.log", readOutput(t, state, "mask-1"))
	lines, err := p.Logs(context.Background(), "mask-1", 100)
	if err != nil {
		t.Fatal(err)
	}
	assertMasked(t, "Logs", strings.Join(lines, "\n"))
	if n := len(maskWriters("mask-1")); n != 1 {
		t.Fatalf("%d masking writers for the instance, want 1", n)
	}
	// The writer is in a process group of its own: stopping the
	// instance's group does not cut its last lines.
	if pg := maskWriters("mask-1"); len(pg) == 1 {
		if st, err := readProcStat(pg[0]); err != nil || st.pgrp == in.PID {
			t.Fatalf("masking writer in the instance's process group (%+v, %v)", st, err)
		}
	}
	if err := p.Stop(context.Background(), "mask-1", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the masking writer to exit with the instance", func() bool { return len(maskWriters("mask-1")) == 0 })
}

// The masking writer lives with the instance, not with the server: output
// goes on being written, masked, while no server runs; a server adopting
// the instance restarts it through a new writer.
func TestProcessMaskingOutlivesTheServer(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	argv := maskLogArgv(t)
	first, err := NewProcess(ProcessOptions{StateDir: state, Restart: fastPolicy, PollInterval: 20 * time.Millisecond, MaskLog: argv})
	if err != nil {
		t.Fatal(err)
	}
	spec := printingSpec(t, "mask-2")
	spec.Command = strings.Replace(spec.Command, `exec "$APP"`, `while :; do echo "tick=$TOKEN"; sleep 0.05; done`, 1)
	in, err := first.Start(context.Background(), spec)
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the output", func() bool { return strings.Contains(readOutput(t, state, "mask-2"), "tick=") })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ticks := strings.Count(readOutput(t, state, "mask-2"), "tick=***")
	testkit.Eventually(t, 0, "output written with no server", func() bool {
		return strings.Count(readOutput(t, state, "mask-2"), "tick=***") > ticks+3
	})
	assertMasked(t, "output.log with no server", readOutput(t, state, "mask-2"))

	second := newTestProcess(t, state, func(o *ProcessOptions) { o.MaskLog = argv })
	if got := findInstance(t, second, "mask-2"); got.PID != in.PID {
		t.Fatalf("adopted %+v", got)
	}
	if err := second.SetSecrets("mask-2", spec.Secrets); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var now Instance
	testkit.Eventually(t, 0, "the restart", func() bool {
		now = findInstance(t, second, "mask-2")
		return now.State == Running && now.PID != in.PID && now.PID != 0
	})
	testkit.Eventually(t, 0, "the restarted instance's output", func() bool {
		return strings.Contains(readOutput(t, state, "mask-2"), "done "+strconv.Itoa(now.PID))
	})
	assertMasked(t, "output.log after the restart", readOutput(t, state, "mask-2"))
	testkit.Eventually(t, 0, "only the restarted instance's writer left", func() bool { return len(maskWriters("mask-2")) == 1 })
}

// Without secrets no writer is started: the instance writes its file.
func TestProcessWithoutSecretsHasNoMaskingWriter(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p := newTestProcess(t, state, func(o *ProcessOptions) { o.MaskLog = maskLogArgv(t) })
	spec := appSpec(t, "mask-3")
	spec.Command = `echo hello; exec "$APP"`
	if _, err := p.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the output", func() bool { return strings.Contains(readOutput(t, state, "mask-3"), "hello") })
	if n := len(maskWriters("mask-3")); n != 0 {
		t.Fatalf("%d masking writers", n)
	}
}

func TestMaskLogReadsSecretsThenMasks(t *testing.T) {
	t.Parallel()
	secrets := base64.StdEncoding.EncodeToString([]byte("alpha-secret")) + "\n" + base64.StdEncoding.EncodeToString([]byte("multi\nline")) + "\n"
	var out bytes.Buffer
	in := "x alpha-secret y\nmulti\nline\nunterminated alpha-sec"
	if err := MaskLog(strings.NewReader(secrets), strings.NewReader(in+"ret"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "x *** y\n***\nunterminated ***"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := MaskLog(strings.NewReader("not base64!\n"), strings.NewReader(""), &out); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("bad secrets line: %v", err)
	}
}

// A container's lines come from the engine: every way tug reads them
// (LogsSince, which the logs room stores, and Logs, which deploy failure
// reports keep) masks the container's secrets, also in a runtime that
// adopted the container and was never told the values.
func TestDockerLogsMaskSecrets(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	owner := testOwner(t, cli)
	d := newTestDocker(t, cli, owner)
	ctx := context.Background()
	spec := dockerSpec(t, "mask-d1")
	spec.Secrets = map[string]secret.Value{"TOKEN": secret.New(maskedToken)}
	in, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the container to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	for _, msg := range []string{"plain=" + leakForms[0], "quoted=" + leakForms[1], `json={"t":"` + leakForms[2] + `"}`, "b64=" + leakForms[3], "split=" + leakForms[0]} {
		if _, err := get(in.Addr, "/say?msg="+url.QueryEscape(msg)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(rt *Docker, who string) {
		t.Helper()
		var lines []LogLine
		testkit.Eventually(t, 0, "the lines", func() bool {
			lines, err = rt.LogsSince(ctx, "mask-d1", time.Time{})
			return err == nil && len(lines) > 0 && strings.Contains(lines[len(lines)-1].Text, "split=")
		})
		var texts []string
		for _, l := range lines {
			texts = append(texts, l.Text)
		}
		assertMasked(t, who+" LogsSince", strings.Join(texts, "\n"))
		tail, err := rt.Logs(ctx, "mask-d1", 20)
		if err != nil {
			t.Fatal(err)
		}
		assertMasked(t, who+" Logs", strings.Join(tail, "\n"))
	}
	check(d, "the starting runtime's")
	check(newTestDocker(t, cli, owner), "an adopting runtime's")
}

// An adopting runtime reads the values of a container whose secrets go
// through a file from that file.
func TestDockerSecretsFileReadBack(t *testing.T) {
	t.Parallel()
	d := &Docker{stateDir: t.TempDir()}
	os.MkdirAll(filepath.Dir(d.secretsPath("i-1")), 0o700)
	body := "A=" + base64.StdEncoding.EncodeToString([]byte("alpha=1")) + "\nB=" + base64.StdEncoding.EncodeToString([]byte("multi\nline")) + "\n"
	if err := os.WriteFile(d.secretsPath("i-1"), []byte(body), 0o400); err != nil {
		t.Fatal(err)
	}
	got, err := d.secretsOfFile("i-1")
	if err != nil || len(got) != 2 || got["A"].Reveal() != "alpha=1" || got["B"].Reveal() != "multi\nline" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := d.secretsOfFile("i-2"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
