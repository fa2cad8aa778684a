package scan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// adminPorts are ports that must not be open to the internet.
var adminPorts = []int64{22, 23, 3389, 3306, 5432, 6379, 9200, 27017, 2375, 2376}

// scanTerraform checks one .tf file.
func scanTerraform(path string, src []byte) []Finding {
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		d := diags[0]
		line, col := 1, 1
		if d.Subject != nil {
			line, col = d.Subject.Start.Line, d.Subject.Start.Column
		}
		return []Finding{parseFinding(path, line, col, d.Summary+": "+d.Detail)}
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var out []Finding
	versioned := map[string]bool{} // bucket resource names with an aws_s3_bucket_versioning
	type bucket struct {
		name string
		b    *hclsyntax.Block
	}
	var buckets []bucket
	for _, b := range body.Blocks {
		if b.Type != "resource" || len(b.Labels) < 2 {
			continue
		}
		typ, name := b.Labels[0], b.Labels[1]
		addr := typ + "." + name
		line := b.DefRange().Start.Line
		switch typ {
		case "aws_security_group":
			for _, in := range b.Body.Blocks {
				if in.Type == "ingress" {
					out = append(out, openIngress(path, addr, in.Body, in.DefRange().Start.Line)...)
				}
			}
		case "aws_security_group_rule":
			if s, _ := attrString(b.Body, "type"); s == "ingress" {
				out = append(out, openIngress(path, addr, b.Body, line)...)
			}
		case "aws_vpc_security_group_ingress_rule":
			out = append(out, openIngress(path, addr, b.Body, line)...)
		case "aws_ebs_volume":
			if v, known := attrBool(b.Body, "encrypted"); known && !v || !hasAttr(b.Body, "encrypted") {
				out = append(out, misconfig("TUG-TF-002", path, line, 1, addr, addr+" is not encrypted"))
			}
		case "aws_db_instance", "aws_rds_cluster":
			if v, known := attrBool(b.Body, "storage_encrypted"); known && !v || !hasAttr(b.Body, "storage_encrypted") {
				out = append(out, misconfig("TUG-TF-002", path, line, 1, addr, addr+" has storage_encrypted unset or false"))
			}
		case "aws_s3_bucket":
			buckets = append(buckets, bucket{name, b})
			if acl, _ := attrString(b.Body, "acl"); strings.HasPrefix(acl, "public-") {
				out = append(out, misconfig("TUG-TF-003", path, attrLine(b.Body, "acl", line), 1, addr, fmt.Sprintf("%s has acl = %q", addr, acl)))
			}
			for _, in := range b.Body.Blocks {
				if in.Type == "versioning" {
					if v, known := attrBool(in.Body, "enabled"); !known || v {
						versioned[name] = true
					}
				}
			}
		case "aws_s3_bucket_acl":
			if acl, _ := attrString(b.Body, "acl"); strings.HasPrefix(acl, "public-") {
				out = append(out, misconfig("TUG-TF-003", path, attrLine(b.Body, "acl", line), 1, addr, fmt.Sprintf("%s sets acl = %q", addr, acl)))
			}
		case "aws_s3_bucket_public_access_block":
			for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
				if v, known := attrBool(b.Body, k); known && !v {
					out = append(out, misconfig("TUG-TF-003", path, attrLine(b.Body, k, line), 1, addr+"."+k, fmt.Sprintf("%s sets %s = false", addr, k)))
				}
			}
		case "aws_s3_bucket_versioning":
			if a, ok := b.Body.Attributes["bucket"]; ok {
				for _, tr := range a.Expr.Variables() {
					if len(tr) >= 2 && tr.RootName() == "aws_s3_bucket" {
						if ga, ok := tr[1].(hcl.TraverseAttr); ok {
							versioned[ga.Name] = true
						}
					}
				}
			}
		}
	}
	for _, bk := range buckets {
		if !versioned[bk.name] {
			addr := "aws_s3_bucket." + bk.name
			out = append(out, misconfig("TUG-TF-004", path, bk.b.DefRange().Start.Line, 1, addr, addr+" has no versioning"))
		}
	}
	return out
}

// openIngress checks one ingress rule (block or resource body).
func openIngress(path, addr string, body *hclsyntax.Body, line int) []Finding {
	var cidrs []string
	for _, k := range []string{"cidr_blocks", "ipv6_cidr_blocks"} {
		cidrs = append(cidrs, attrStrings(body, k)...)
	}
	for _, k := range []string{"cidr_ipv4", "cidr_ipv6"} {
		if s, ok := attrString(body, k); ok {
			cidrs = append(cidrs, s)
		}
	}
	open := slices.ContainsFunc(cidrs, func(c string) bool { return c == "0.0.0.0/0" || c == "::/0" })
	if !open {
		return nil
	}
	from, okF := attrInt(body, "from_port")
	to, okT := attrInt(body, "to_port")
	proto, _ := attrString(body, "protocol")
	if proto == "" {
		proto, _ = attrString(body, "ip_protocol")
	}
	all := proto == "-1" || proto == "all" || (!okF && !okT)
	var hit []int64
	if !all {
		if !okT {
			to = from
		}
		for _, p := range adminPorts {
			if p >= from && p <= to {
				hit = append(hit, p)
			}
		}
		if from <= 0 && to >= 65535 {
			all = true
		}
	}
	if !all && len(hit) == 0 {
		return nil
	}
	what := "all ports"
	if !all {
		what = fmt.Sprintf("port %v", hit)
		if len(hit) == 1 {
			what = fmt.Sprintf("port %d", hit[0])
		}
	}
	return []Finding{misconfig("TUG-TF-001", path, line, 1, addr+fmt.Sprintf(":%d-%d", from, to), fmt.Sprintf("%s allows %s from %s", addr, what, strings.Join(cidrs, ", ")))}
}

func hasAttr(b *hclsyntax.Body, name string) bool { _, ok := b.Attributes[name]; return ok }

// attrValue evaluates an attribute without variables; references make it
// unknown.
func attrValue(b *hclsyntax.Body, name string) (cty.Value, bool) {
	a, ok := b.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, false
	}
	return v, true
}

func attrLine(b *hclsyntax.Body, name string, def int) int {
	if a, ok := b.Attributes[name]; ok {
		return a.SrcRange.Start.Line
	}
	return def
}

func attrString(b *hclsyntax.Body, name string) (string, bool) {
	v, ok := attrValue(b, name)
	if !ok {
		return "", false
	}
	switch v.Type() {
	case cty.String:
		return v.AsString(), true
	case cty.Number:
		return v.AsBigFloat().String(), true
	}
	return "", false
}

func attrBool(b *hclsyntax.Body, name string) (bool, bool) {
	v, ok := attrValue(b, name)
	if !ok {
		return false, false
	}
	switch v.Type() {
	case cty.Bool:
		return v.True(), true
	case cty.String:
		return v.AsString() == "true", true
	}
	return false, false
}

func attrInt(b *hclsyntax.Body, name string) (int64, bool) {
	v, ok := attrValue(b, name)
	if !ok || v.Type() != cty.Number {
		return 0, false
	}
	n, _ := v.AsBigFloat().Int64()
	return n, true
}

func attrStrings(b *hclsyntax.Body, name string) []string {
	v, ok := attrValue(b, name)
	if !ok || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// parseFinding is a file that could not be parsed.
func parseFinding(path string, line, col int, msg string) Finding {
	f := misconfig("TUG-PARSE-001", path, line, col, "", path+": "+msg)
	f.Message = fmt.Sprintf("cannot parse %s: %s", path, msg)
	return f
}
