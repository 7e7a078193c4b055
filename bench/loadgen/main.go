// Command loadgen drives the standard S3 workloads against one endpoint
// and reports throughput, operations per second, latency percentiles and
// the CPU time that the processes under test spent. bench/run.sh runs it
// against MinIO, a do-nothing proxy, Cloak and rclone, round by round,
// and then runs "loadgen report" over the results.
//
//	loadgen run -endpoint URL -access KEY -secret SECRET -target NAME [flags]
//	loadgen report [-base minio -proxy noproxy ...] results.jsonl
//
// Objects are generated from a seed (see data.go) and every read is
// compared with what was written, so a wrong byte fails the run.
package main

import (
	"fmt"
	"io"
	"log"
	"os"
)

func main() {
	// net/http logs a server's protocol errors through the log package,
	// with up to a kilobyte of the raw bytes; keep the first line short.
	log.SetOutput(shortLines{os.Stderr})
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen run|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

// shortLines writes each log message cut to 160 bytes.
type shortLines struct{ w io.Writer }

func (s shortLines) Write(p []byte) (int, error) {
	if len(p) > 160 {
		if _, err := fmt.Fprintf(s.w, "%s... (%d bytes)\n", p[:160], len(p)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.w.Write(p)
}
