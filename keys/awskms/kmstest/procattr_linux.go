package kmstest

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to kill the server if the test process
// dies without running its cleanups (killed, or its output pipe closed),
// so that no server outlives its test. (The kernel acts when the thread
// that started the server exits; Go's runtime keeps its threads.)
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
