package scan

// Rule is an infrastructure check: an id, a severity, and a short doc.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Doc      string   `json:"doc"`
	Fix      string   `json:"fix"`
}

// Rules lists tug's infrastructure rules (and the rules for files it
// cannot read), in id order.
func Rules() []Rule {
	return []Rule{
		{"TUG-DC-001", High, "Compose service is privileged", "A privileged container has every capability and the host's devices: a compromise of the container is a compromise of the host.", "remove `privileged: true`; add only the capabilities the service needs with cap_add"},
		{"TUG-DC-002", Medium, "Compose service uses the host network", "`network_mode: host` shares the host's network stack: the service can bind any host port and reach services listening on localhost.", "use a bridge network and publish only the ports the service serves"},
		{"TUG-DC-003", High, "Compose service mounts the Docker socket", "Whoever controls the Docker socket controls the host: the container can start a privileged container of its own.", "do not mount /var/run/docker.sock; use a socket proxy that allows only the calls needed"},
		{"TUG-DF-001", Medium, "Dockerfile runs as root", "Without a USER instruction (or with USER root) the container's process runs as root, so an escape from the application is root in the container.", "add `USER <non-root user>` after the steps that need root"},
		{"TUG-DF-002", Low, "Dockerfile base image is `latest` or untagged", "A moving tag makes builds unreproducible and can pull in an unreviewed base image.", "pin the base image to a version tag, or better a digest (image@sha256:...)"},
		{"TUG-DF-003", High, "Dockerfile puts a secret in ENV or ARG", "ENV and ARG values are stored in the image's configuration and history: anyone who can pull the image can read them.", "pass secrets at build time with `RUN --mount=type=secret` and at run time through tug's secrets"},
		{"TUG-DF-004", Medium, "Dockerfile ADDs a remote URL", "ADD fetches the URL without verifying it: the build trusts whatever the server returns.", "download with RUN curl and check a checksum, or use `ADD --checksum=sha256:...`"},
		{"TUG-K8S-001", High, "Kubernetes container is privileged", "A privileged container has every capability and the node's devices.", "remove securityContext.privileged: true"},
		{"TUG-K8S-002", Medium, "Kubernetes pod mounts a hostPath volume", "A hostPath volume exposes the node's file system to the pod.", "use a persistentVolumeClaim, configMap, secret or emptyDir instead"},
		{"TUG-K8S-003", Low, "Kubernetes container has no resource limits", "Without limits one container can starve the others on its node of CPU and memory.", "set resources.limits.cpu and resources.limits.memory"},
		{"TUG-K8S-004", Medium, "Kubernetes container may run as root", "Without runAsNonRoot the kubelet starts the container even when its image runs as root.", "set securityContext.runAsNonRoot: true on the pod or the container"},
		{"TUG-PARSE-001", Medium, "File cannot be parsed", "A lockfile, Terraform file, Dockerfile, manifest or go.mod that cannot be read is not scanned, so what it declares is unchecked.", "fix the syntax error at the position given"},
		{"TUG-SUP-001", Low, "Suppression without a reason or with a bad expiry", "Every suppression says why and until when, so it is reviewed; one that does not suppresses nothing.", "write `tug:ignore RULE until YYYY-MM-DD: reason`"},
		{"TUG-TF-001", High, "Security group open to the internet on an admin port", "An ingress rule from 0.0.0.0/0 (or ::/0) to SSH, RDP, a database or all ports invites brute force and exploits.", "restrict cidr_blocks to the addresses that need access, or use a bastion or VPN"},
		{"TUG-TF-002", High, "Storage is not encrypted at rest", "An unencrypted volume, database or bucket exposes its data to whoever gets the disk or a snapshot.", "set encrypted = true (EBS), storage_encrypted = true (RDS), or a server-side encryption configuration"},
		{"TUG-TF-003", Critical, "Bucket is public", "A public-read ACL or a disabled public access block lets anyone on the internet list or read the bucket.", "use acl = \"private\" and an aws_s3_bucket_public_access_block with every setting true"},
		{"TUG-TF-004", Low, "Bucket has no versioning", "Without versioning an overwrite or delete (by mistake or by ransomware) cannot be undone.", "add an aws_s3_bucket_versioning resource with status = \"Enabled\""},
		{"TUG-TUG-001", High, "tug.yaml holds a secret value in plain env", "A value under env: is stored in the repository and shown in job and service configuration; secrets belong in tug's secret store.", "move the value to a secret and list its name under secrets:"},
		{"TUG-TUG-002", Low, "Service has no health check", "Without a health check tug cannot gate a deploy on the new release working, nor restart an instance that hangs.", "add health: {path: /healthz} to the service"},
	}
}

// ruleByID finds a rule.
func ruleByID(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// misconfig builds a misconfiguration finding of a rule at path:line.
// key identifies the finding within the file (a resource address, a
// service name), so its fingerprint survives edits elsewhere.
func misconfig(id, path string, line, col int, key, msg string) Finding {
	r, _ := ruleByID(id)
	kind := KindMisconfiguration
	return Finding{
		Kind: kind, Rule: id, Severity: r.Severity, Path: path, Line: line, Column: col,
		Message: r.Title + ": " + msg, Fix: r.Fix, Help: r.Doc, key: key,
	}
}
