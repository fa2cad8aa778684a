package config

import "slices"

// Values of an environment's approval.
func approvalValues() []string { return []string{"required"} }

// Values of approval.not_by.
func notByValues() []string { return []string{NotByDeployer} }

// approval checks environments.NAME.approval in either shape.
func (v *validator) approval(name string, a Approval) {
	path := "environments." + name + ".approval"
	v.enum(path, a.Short, approvalValues()...)
	v.enum(path+".not_by", a.NotBy, notByValues()...)
	if a.NotBy != "" && !a.Required && slices.Contains(notByValues(), a.NotBy) {
		v.errorf(path+".not_by", "not_by applies to an approval: add required: true (or remove not_by)")
	}
}
