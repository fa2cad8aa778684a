//go:build !unix

package server

import (
	"errors"
	"os"
	"os/exec"
)

func tryLock(*os.File) (bool, error) { return true, nil }

func detach(*exec.Cmd) {}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p != nil
}

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
