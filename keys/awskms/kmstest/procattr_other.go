//go:build !linux

package kmstest

import "os/exec"

// dieWithParent does nothing here: only Linux can tie a child's life to
// its parent's. A test process that dies without its cleanups leaves the
// server running.
func dieWithParent(*exec.Cmd) {}
