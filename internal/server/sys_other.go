//go:build !unix

package server

import (
	"errors"
	"os"
	"os/exec"
)

func detach(*exec.Cmd) {}

func sendSignal(pid int, _ bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if p == nil {
		return errors.New("no process")
	}
	return p.Kill()
}
