package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// secretNameRe matches names that say they hold a secret.
var secretNameRe = regexp.MustCompile(`(?i)(passw(or)?d|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential)`)

// dockerInstructions are the instructions a Dockerfile may use.
var dockerInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// isDockerfile says whether a file name is a Dockerfile.
func isDockerfile(name string) bool {
	b := path.Base(name)
	return b == "Dockerfile" || b == "Containerfile" || strings.HasPrefix(b, "Dockerfile.") || strings.HasSuffix(b, ".Dockerfile") || strings.HasSuffix(b, ".dockerfile")
}

// isCompose says whether a file name is a Compose file.
func isCompose(name string) bool {
	b := path.Base(name)
	for _, p := range []string{"docker-compose", "compose"} {
		if strings.HasPrefix(b, p) && (strings.HasSuffix(b, ".yml") || strings.HasSuffix(b, ".yaml")) {
			rest := strings.TrimPrefix(b, p)
			return rest == ".yml" || rest == ".yaml" || strings.HasPrefix(rest, ".")
		}
	}
	return false
}

type dfInstr struct {
	cmd  string
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions, joining
// continuation lines.
func parseDockerfile(src []byte) ([]dfInstr, error) {
	var out []dfInstr
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	escape := `\`
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if i == 0 || len(out) == 0 {
			if m := regexp.MustCompile(`(?i)^#\s*escape\s*=\s*(\S)`).FindStringSubmatch(line); m != nil {
				escape = m[1]
			}
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		start := i + 1
		full := line
		for strings.HasSuffix(full, escape) && i+1 < len(lines) {
			full = strings.TrimSuffix(full, escape)
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			full += " " + next
		}
		cmd, args, _ := strings.Cut(full, " ")
		cmd = strings.ToUpper(cmd)
		known := false
		for _, k := range dockerInstructions {
			if k == cmd {
				known = true
			}
		}
		if !known {
			return out, &parseError{Line: start, Col: 1, Msg: fmt.Sprintf("unknown instruction %q", strings.Fields(full)[0])}
		}
		out = append(out, dfInstr{cmd: cmd, args: strings.TrimSpace(args), line: start})
	}
	if len(out) > 0 && out[0].cmd != "FROM" && out[0].cmd != "ARG" {
		return out, &parseError{Line: out[0].line, Col: 1, Msg: "a Dockerfile must begin with FROM (or ARG)"}
	}
	return out, nil
}

// scanDockerfile checks one Dockerfile.
func scanDockerfile(p string, src []byte) []Finding {
	ins, err := parseDockerfile(src)
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return []Finding{parseFinding(p, pe.Line, pe.Col, pe.Msg)}
		}
		return []Finding{parseFinding(p, 1, 1, err.Error())}
	}
	var out []Finding
	stages := map[string]bool{}
	user := ""
	lastFrom := 0
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			lastFrom = in.line
			user = ""
			f := strings.Fields(in.args)
			var img string
			for i := 0; i < len(f); i++ {
				if strings.HasPrefix(f[i], "--") {
					continue
				}
				img = f[i]
				if i+2 < len(f) && strings.EqualFold(f[i+1], "AS") {
					stages[strings.ToLower(f[i+2])] = true
				}
				break
			}
			if img == "" || img == "scratch" || stages[strings.ToLower(img)] || strings.Contains(img, "$") || strings.Contains(img, "@sha256:") {
				continue
			}
			lastSeg := img[strings.LastIndex(img, "/")+1:]
			tag := ""
			if i := strings.LastIndex(lastSeg, ":"); i >= 0 {
				tag = lastSeg[i+1:]
			}
			if tag == "" || tag == "latest" {
				out = append(out, misconfig("TUG-DF-002", p, in.line, 1, "FROM "+img, fmt.Sprintf("FROM %s", img)))
			}
		case "USER":
			user = strings.TrimSpace(in.args)
		case "ENV", "ARG":
			for _, kv := range envPairs(in.cmd, in.args) {
				if secretNameRe.MatchString(kv[0]) && (in.cmd == "ARG" || (kv[1] != "" && !strings.HasPrefix(kv[1], "$"))) {
					out = append(out, misconfig("TUG-DF-003", p, in.line, 1, in.cmd+" "+kv[0], fmt.Sprintf("%s %s", in.cmd, kv[0])))
				}
			}
		case "ADD":
			for _, a := range strings.Fields(in.args) {
				if strings.HasPrefix(a, "--checksum") {
					break
				}
				if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
					out = append(out, misconfig("TUG-DF-004", p, in.line, 1, "ADD "+a, "ADD "+a))
				}
			}
		}
	}
	u := strings.ToLower(strings.SplitN(user, ":", 2)[0])
	if lastFrom > 0 && (u == "" || u == "root" || u == "0") {
		line := lastFrom
		msg := "the final stage has no USER instruction"
		if u != "" {
			msg = "the final stage runs as USER " + user
		}
		out = append(out, misconfig("TUG-DF-001", p, line, 1, "root", msg))
	}
	return out
}

// envPairs reads ENV/ARG arguments: "K=V K2=V2", "K V" (legacy ENV), "K".
func envPairs(cmd, args string) [][2]string {
	var out [][2]string
	if cmd == "ENV" && !strings.Contains(strings.SplitN(args, " ", 2)[0], "=") {
		k, v, _ := strings.Cut(args, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}
	}
	for _, f := range strings.Fields(args) {
		k, v, _ := strings.Cut(f, "=")
		out = append(out, [2]string{k, strings.Trim(v, `"'`)})
	}
	return out
}

// yamlDocs decodes every document of a YAML stream into nodes.
func yamlDocs(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var out []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, yamlError(err)
		}
		if len(n.Content) > 0 {
			out = append(out, n.Content[0])
		}
	}
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlError(err error) error {
	line := 1
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		fmt.Sscan(m[1], &line)
	}
	return &parseError{Line: line, Col: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// get returns a mapping's value node for key, or nil.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// keyNode returns the key node of a mapping entry, for its position.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func lineOf(n *yaml.Node, def int) int {
	if n == nil {
		return def
	}
	return n.Line
}

// yamlFinding turns a YAML parse error into a finding.
func yamlParseFinding(p string, err error) Finding {
	var pe *parseError
	if errors.As(err, &pe) {
		return parseFinding(p, pe.Line, pe.Col, pe.Msg)
	}
	return parseFinding(p, 1, 1, err.Error())
}

// scanCompose checks a Compose file.
func scanCompose(p string, src []byte) []Finding {
	docs, err := yamlDocs(src)
	if err != nil {
		return []Finding{yamlParseFinding(p, err)}
	}
	var out []Finding
	for _, doc := range docs {
		svcs := get(doc, "services")
		if svcs == nil || svcs.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(svcs.Content); i += 2 {
			name, s := svcs.Content[i].Value, svcs.Content[i+1]
			if v := get(s, "privileged"); v != nil && v.Value == "true" {
				out = append(out, misconfig("TUG-DC-001", p, lineOf(keyNode(s, "privileged"), v.Line), 1, name, "service "+name))
			}
			if v := get(s, "network_mode"); v != nil && v.Value == "host" {
				out = append(out, misconfig("TUG-DC-002", p, lineOf(keyNode(s, "network_mode"), v.Line), 1, name, "service "+name))
			}
			if vols := get(s, "volumes"); vols != nil {
				for _, v := range vols.Content {
					src := v.Value
					if v.Kind == yaml.MappingNode {
						if s := get(v, "source"); s != nil {
							src = s.Value
						}
					}
					if strings.Contains(src, "docker.sock") {
						out = append(out, misconfig("TUG-DC-003", p, v.Line, 1, name, "service "+name+" mounts "+strings.SplitN(src, ":", 2)[0]))
					}
				}
			}
		}
	}
	return out
}

// isK8sManifest says whether a YAML document is a Kubernetes object.
func isK8sManifest(doc *yaml.Node) bool {
	return get(doc, "apiVersion") != nil && get(doc, "kind") != nil
}

// podSpec finds the pod spec of a workload object.
func podSpec(doc *yaml.Node) *yaml.Node {
	switch get(doc, "kind").Value {
	case "Pod":
		return get(doc, "spec")
	case "CronJob":
		return get(doc, "spec", "jobTemplate", "spec", "template", "spec")
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		return get(doc, "spec", "template", "spec")
	}
	return nil
}

// scanK8s checks the Kubernetes objects of a YAML stream; docs are
// already decoded.
func scanK8s(p string, docs []*yaml.Node) []Finding {
	var out []Finding
	for _, doc := range docs {
		if !isK8sManifest(doc) {
			continue
		}
		spec := podSpec(doc)
		if spec == nil {
			continue
		}
		obj := get(doc, "kind").Value
		if n := get(doc, "metadata", "name"); n != nil {
			obj += "/" + n.Value
		}
		podNonRoot := get(spec, "securityContext", "runAsNonRoot")
		if vols := get(spec, "volumes"); vols != nil {
			for _, v := range vols.Content {
				if hp := get(v, "hostPath"); hp != nil {
					name := ""
					if n := get(v, "name"); n != nil {
						name = n.Value
					}
					out = append(out, misconfig("TUG-K8S-002", p, v.Line, 1, obj+":"+name, fmt.Sprintf("%s volume %s", obj, name)))
				}
			}
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs := get(spec, list)
			if cs == nil {
				continue
			}
			for _, c := range cs.Content {
				name := ""
				if n := get(c, "name"); n != nil {
					name = n.Value
				}
				where := fmt.Sprintf("%s container %s", obj, name)
				key := obj + ":" + name
				if v := get(c, "securityContext", "privileged"); v != nil && v.Value == "true" {
					out = append(out, misconfig("TUG-K8S-001", p, v.Line, 1, key, where))
				}
				if get(c, "resources", "limits") == nil {
					out = append(out, misconfig("TUG-K8S-003", p, c.Line, 1, key, where))
				}
				nonRoot := get(c, "securityContext", "runAsNonRoot")
				if nonRoot == nil {
					nonRoot = podNonRoot
				}
				if nonRoot == nil || nonRoot.Value != "true" {
					out = append(out, misconfig("TUG-K8S-004", p, c.Line, 1, key, where))
				}
			}
		}
	}
	return out
}

// scanTugYAML checks tug.yaml itself: secret values in plain env, and
// services without health checks.
func scanTugYAML(p string, src []byte) []Finding {
	docs, err := yamlDocs(src)
	if err != nil || len(docs) == 0 {
		return nil // tug validate reports a broken tug.yaml
	}
	doc := docs[0]
	var out []Finding
	checkEnv := func(where string, env *yaml.Node) {
		if env == nil || env.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(env.Content); i += 2 {
			k, v := env.Content[i], env.Content[i+1]
			if secretNameRe.MatchString(k.Value) && v.Value != "" && !strings.Contains(v.Value, "${") {
				out = append(out, misconfig("TUG-TUG-001", p, k.Line, k.Column, where+".env."+k.Value, where+".env."+k.Value))
			}
		}
	}
	checkEnv("", get(doc, "env"))
	if pl := get(doc, "pipelines"); pl != nil && pl.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(pl.Content); i += 2 {
			pn, pv := pl.Content[i].Value, pl.Content[i+1]
			checkEnv("pipelines."+pn, get(pv, "env"))
			if jobs := get(pv, "jobs"); jobs != nil && jobs.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(jobs.Content); j += 2 {
					checkEnv("pipelines."+pn+".jobs."+jobs.Content[j].Value, get(jobs.Content[j+1], "env"))
				}
			}
		}
	}
	if svcs := get(doc, "services"); svcs != nil && svcs.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(svcs.Content); i += 2 {
			name, s := svcs.Content[i], svcs.Content[i+1]
			checkEnv("services."+name.Value, get(s, "env"))
			if get(s, "health") == nil && get(s, "port") != nil {
				out = append(out, misconfig("TUG-TUG-002", p, name.Line, name.Column, "services."+name.Value, "service "+name.Value))
			}
		}
	}
	return out
}
