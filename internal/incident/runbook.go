package incident

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
)

// RunbookDir is where a project's runbooks live, beside tug.yaml.
const RunbookDir = "runbooks"

// Step kinds.
const (
	StepLogs     = "logs"
	StepQuery    = "query"
	StepRestart  = "restart"
	StepRollback = "rollback"
	StepScale    = "scale"
	StepShell    = "shell"
)

// StepKinds lists the kinds of runbook steps.
func StepKinds() []string {
	return []string{StepLogs, StepQuery, StepRestart, StepRollback, StepScale, StepShell}
}

// Runbook is a parsed runbook: Markdown whose fenced blocks marked `step`
// are its executable steps, in order.
type Runbook struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Title string `json:"title"`
	// Default says it is the runbook tug ships (no file in runbooks/).
	Default bool   `json:"default,omitempty"`
	Steps   []Step `json:"steps"`
	// Text is the whole Markdown.
	Text string `json:"text"`
}

// Step is one executable step of a runbook.
type Step struct {
	// N counts steps from 1.
	N    int    `json:"n"`
	Kind string `json:"kind"`
	// Command is the step as written (its first line, or the whole script
	// of a shell step).
	Command string `json:"command"`
	// Args are the words after the kind (the script of a shell step).
	Args []string `json:"args,omitempty"`
	// Script is a shell step's script.
	Script string `json:"script,omitempty"`
	// Line and Col are where the step's command starts in the file.
	Line int `json:"line"`
	Col  int `json:"-"`
	// Context is the Markdown text just before the step (what it is for).
	Context string `json:"context,omitempty"`
}

//go:embed runbooks/*.md
var defaultRunbooks embed.FS

//go:embed template.md
var runbookTemplate string

// DefaultRunbooks lists the names of the runbooks tug ships, one per
// alert of its default packs.
func DefaultRunbooks() []string {
	ents, _ := fs.ReadDir(defaultRunbooks, "runbooks")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".md"))
	}
	return out
}

// RunbookName turns what names a runbook ("high-error-rate",
// "high-error-rate.md", "runbooks/high-error-rate.md") into its name;
// anything that is not a plain name in runbooks/ is ErrInvalid.
func RunbookName(ref string) (string, error) {
	name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ref, "./"), RunbookDir+"/"), ".md")
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: runbook %q: want a name in %s/ such as high-error-rate", ErrInvalid, ref, RunbookDir)
	}
	return name, nil
}

// LoadRunbook reads runbook ref from dir/runbooks, or the one tug ships
// by that name; ErrNotFound when neither exists, an error wrapping
// ErrRunbook (a config.Error list, positioned) when it does not parse.
func LoadRunbook(dir, ref string) (*Runbook, error) {
	name, err := RunbookName(ref)
	if err != nil {
		return nil, err
	}
	rel := path.Join(RunbookDir, name+".md")
	src, err := os.ReadFile(filepath.Join(dir, rel))
	isDefault := false
	if errors.Is(err, fs.ErrNotExist) {
		src, err = defaultRunbooks.ReadFile(rel)
		isDefault = true
		if err != nil {
			return nil, fmt.Errorf("%w: runbook %s: no %s, and tug ships none of that name (create it with `tug runbook new %s`)", ErrNotFound, name, rel, name)
		}
	} else if err != nil {
		return nil, fmt.Errorf("runbook %s: %w", name, err)
	}
	rb, err := ParseRunbook(rel, src)
	if err != nil {
		return nil, err
	}
	rb.Name, rb.Default = name, isDefault
	return rb, nil
}

// NewRunbook is the Markdown `tug runbook new NAME` writes: the runbook
// tug ships of that name, else the template with NAME as its title.
func NewRunbook(name string) []byte {
	if b, err := defaultRunbooks.ReadFile(path.Join(RunbookDir, name+".md")); err == nil {
		return b
	}
	title := strings.ReplaceAll(name, "-", " ")
	if title != "" {
		title = strings.ToUpper(title[:1]) + title[1:]
	}
	return []byte(strings.ReplaceAll(runbookTemplate, "{{TITLE}}", title))
}

var fence = regexp.MustCompile("^ {0,3}(```+|~~~+)\\s*([^`\\s]*)(.*)$")

// ParseRunbook reads a runbook's Markdown. file names it in errors, which
// are config.Errors (file:line:col: step N: message) wrapped in
// ErrRunbook, every problem at once.
func ParseRunbook(file string, src []byte) (*Runbook, error) {
	rb := &Runbook{Path: file, Text: string(src), Steps: []Step{}}
	var errs config.Errors
	fail := func(line, col int, where, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Pos: config.Pos{Line: line, Col: col}, Path: where, Msg: fmt.Sprintf(format, args...)})
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var (
		inFence              bool
		fenceMark            string
		isStep               bool
		body                 []string
		bodyLine, fenceLine  int
		lastText             []string
		n                    int
		pendingStepStartLine int
	)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if inFence {
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, fenceMark[:1]) && strings.Trim(trimmed, fenceMark[:1]) == "" && len(trimmed) >= len(fenceMark) {
				inFence = false
				if isStep {
					n++
					st, msg, col := parseStep(body, bodyLine)
					st.N, st.Context = n, strings.TrimSpace(strings.Join(lastText, " "))
					if msg != "" {
						fail(st.Line, col, fmt.Sprintf("step %d", n), "%s", msg)
					}
					rb.Steps = append(rb.Steps, st)
				}
				lastText = nil
				continue
			}
			if len(body) == 0 && trimmed == "" {
				bodyLine = lineNo + 1
				continue
			}
			body = append(body, line)
			continue
		}
		if f := fence.FindStringSubmatch(line); f != nil {
			inFence, fenceMark, body, fenceLine = true, f[1], nil, lineNo
			bodyLine = lineNo + 1
			isStep = f[2] == "step"
			pendingStepStartLine = fenceLine
			continue
		}
		if rb.Title == "" && strings.HasPrefix(line, "# ") {
			rb.Title = strings.TrimSpace(line[2:])
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			lastText = append(lastText, strings.TrimLeft(t, "0123456789.-*) "))
			if len(lastText) > 3 {
				lastText = lastText[1:]
			}
		} else if strings.HasPrefix(t, "#") {
			lastText = nil
		}
	}
	if inFence {
		where := "runbook"
		if isStep {
			where = fmt.Sprintf("step %d", n+1)
		}
		fail(pendingStepStartLine, 1, where, "this code block is never closed: end it with %s", fenceMark)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrRunbook, errs)
	}
	return rb, nil
}

// parseStep reads a step block's lines (starting at line first); msg
// says what is wrong, col where.
func parseStep(body []string, first int) (st Step, msg string, col int) {
	st.Line = first
	for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
		body = body[:len(body)-1]
	}
	if len(body) == 0 {
		return st, fmt.Sprintf("empty step: start it with its kind (%s)", strings.Join(StepKinds(), ", ")), 1
	}
	head := body[0]
	indent := len(head) - len(strings.TrimLeft(head, " \t"))
	fields := strings.Fields(head)
	st.Kind, st.Args = fields[0], fields[1:]
	st.Command = strings.TrimSpace(head)
	col = indent + 1
	st.Col = col
	if !slices.Contains(StepKinds(), st.Kind) {
		return st, fmt.Sprintf("unknown step kind %q%s; a step starts with one of %s", st.Kind, kit.DidYouMean(st.Kind, StepKinds()), strings.Join(StepKinds(), ", ")), col
	}
	if st.Kind == StepShell {
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(head), StepShell))
		lines := append([]string{}, body[1:]...)
		if rest != "" {
			lines = append([]string{rest}, lines...)
		}
		st.Script = strings.TrimSpace(strings.Join(lines, "\n"))
		st.Args, st.Command = nil, strings.TrimSpace(strings.Join(body, "\n"))
		if st.Script == "" {
			return st, "empty shell step: write the script after `shell`", col
		}
		return st, "", 0
	}
	if len(body) > 1 {
		return st, fmt.Sprintf("a %s step is one line; only shell steps have more", st.Kind), col
	}
	argCol := col + len(st.Kind) + 1
	switch st.Kind {
	case StepLogs:
		if len(st.Args) == 0 {
			return st, "logs needs a service: `logs web` (options: --since 15m, --grep REGEXP)", argCol
		}
		if _, _, _, err := logsArgs(st.Args); err != nil {
			return st, err.Error(), argCol
		}
	case StepQuery:
		if len(st.Args) == 0 {
			return st, "query needs a PromQL expression: `query sum(rate(tug_proxy_requests_total[5m]))`", argCol
		}
	case StepRestart:
		if len(st.Args) < 1 || len(st.Args) > 2 {
			return st, "restart takes a service and, optionally, an instance: `restart web` or `restart web web-production-r7-2`", argCol
		}
	case StepRollback:
		if len(st.Args) != 1 {
			return st, "rollback takes one service: `rollback web`", argCol
		}
	case StepScale:
		if len(st.Args) != 2 {
			return st, "scale takes a service and an instance count: `scale web 4`", argCol
		}
		if !strings.Contains(st.Args[1], "${") {
			if n, err := strconv.Atoi(st.Args[1]); err != nil || n < 1 {
				return st, fmt.Sprintf("scale %s %s: the count must be a whole number of at least 1", st.Args[0], st.Args[1]), argCol + len(st.Args[0]) + 1
			}
		}
	}
	return st, "", 0
}

// logsArgs reads `logs SERVICE [--since D] [--grep RE]`.
func logsArgs(args []string) (service, since, grep string, err error) {
	service = args[0]
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--since", "--grep":
			if i+1 >= len(args) {
				return "", "", "", fmt.Errorf("logs: %s needs a value", args[i])
			}
			if args[i] == "--since" {
				since = args[i+1]
				if _, err := kit.ParseDuration(since); err != nil {
					return "", "", "", fmt.Errorf("logs --since: %v", err)
				}
			} else {
				grep = strings.Join(args[i+1:], " ")
				if _, err := regexp.Compile(grep); err != nil {
					return "", "", "", fmt.Errorf("logs --grep: %v", err)
				}
				return service, since, grep, nil
			}
			i++
		default:
			return "", "", "", fmt.Errorf("logs: unknown option %q (options: --since 15m, --grep REGEXP)", args[i])
		}
	}
	return service, since, grep, nil
}
