package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/kit"
)

// checkService says whether name is a declared service; an unknown one
// is a 404 with a did-you-mean and the declared names.
func checkService(cfg *config.Config, name, where string) error {
	if name == "" {
		return badRequest("%s: %q is required", where, "service")
	}
	if _, ok := cfg.Services[name]; ok {
		return nil
	}
	names := serviceNames(cfg)
	return fmt.Errorf("%w %q%s; declared: %s", deploy.ErrUnknownService, name, kit.DidYouMean(name, names), listOrNone(names))
}

// resolveEnvironment returns env, or the default environment when env
// is ""; an undeclared one is a 404 with a did-you-mean.
func resolveEnvironment(cfg *config.Config, env string) (string, error) {
	if env == "" {
		return cfg.DefaultEnvironment(), nil
	}
	names := environmentNames(cfg)
	if slices.Contains(names, env) {
		return env, nil
	}
	return "", fmt.Errorf("%w %q%s; declared: %s", deploy.ErrUnknownEnvironment, env, kit.DidYouMean(env, names), strings.Join(names, ", "))
}

// serviceNames lists services in declaration order.
func serviceNames(cfg *config.Config) []string {
	if len(cfg.ServiceOrder) == len(cfg.Services) {
		return cfg.ServiceOrder
	}
	names := make([]string, 0, len(cfg.Services))
	for n := range cfg.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// environmentNames lists environments in declaration order, or
// ["default"] when none are declared.
func environmentNames(cfg *config.Config) []string {
	if len(cfg.Environments) == 0 {
		return []string{cfg.DefaultEnvironment()}
	}
	if len(cfg.EnvironmentOrder) == len(cfg.Environments) {
		return cfg.EnvironmentOrder
	}
	names := make([]string, 0, len(cfg.Environments))
	for n := range cfg.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
