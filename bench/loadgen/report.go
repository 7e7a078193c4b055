package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

// reportCmd prints, for each workload, the median over rounds of every
// target's figures, and the ratios of each Cloak target against MinIO,
// the do-nothing proxy (and, for a Cloak target named "...-tls", the
// do-nothing proxy over TLS, "noproxy-tls") and rclone.
func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	minioName := fs.String("minio", "minio", "target name of MinIO direct")
	proxyName := fs.String("noproxy", "noproxy", "target name of the do-nothing proxy")
	rcloneName := fs.String("rclone", "rclone", "target name of rclone serve s3")
	cloaks := fs.String("cloak", "cloak-http,cloak-tls", "target names of Cloak, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("report: want one results file")
	}
	results, err := readResults(fs.Arg(0))
	if err != nil {
		return err
	}
	med := medians(results)
	rounds := map[key]int{}
	for _, r := range results {
		rounds[key{r.Target, r.Workload}]++
	}
	var workloads, targets []string
	for _, r := range results {
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
		if !slices.Contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
	}
	fmt.Println("Medians over rounds:")
	for _, w := range workloads {
		for _, t := range targets {
			if r, ok := med[key{t, w}]; ok {
				fmt.Printf("  %s  (%d rounds)\n", r.line(), rounds[key{t, w}])
			}
		}
	}
	fmt.Println()
	fmt.Println("Ratios (throughput of Cloak / other; for latency, Cloak p50 - other p50):")
	for _, c := range strings.Split(*cloaks, ",") {
		for _, w := range workloads {
			cr, ok := med[key{c, w}]
			if !ok {
				continue
			}
			line := fmt.Sprintf("  %-10s %-12s", c, w)
			others := []string{*minioName, *proxyName, *rcloneName}
			if strings.HasSuffix(c, "-tls") {
				// Like with like: the do-nothing proxy over TLS too.
				others = slices.Insert(others, 2, *proxyName+"-tls")
			}
			for _, other := range others {
				o, ok := med[key{other, w}]
				if !ok || o.MBps == 0 {
					continue
				}
				line += fmt.Sprintf("  /%s %5.2fx", other, cr.MBps/o.MBps)
				if strings.HasPrefix(w, "small") {
					line += fmt.Sprintf(" (p50 %+.2f ms)", cr.P50ms-o.P50ms)
				}
			}
			fmt.Println(line)
		}
	}
	return nil
}

type key struct{ target, workload string }

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// medians returns, per target and workload, a result whose every figure
// is the median over the rounds (Round is 0).
func medians(results []result) map[key]result {
	groups := map[key][]result{}
	for _, r := range results {
		k := key{r.Target, r.Workload}
		groups[k] = append(groups[k], r)
	}
	out := map[key]result{}
	for k, rs := range groups {
		m := result{Target: k.target, Workload: k.workload, Ops: rs[0].Ops}
		pick := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return median(v)
		}
		m.MBps = pick(func(r result) float64 { return r.MBps })
		m.OpsPerS = pick(func(r result) float64 { return r.OpsPerS })
		m.P50ms = pick(func(r result) float64 { return r.P50ms })
		m.P99ms = pick(func(r result) float64 { return r.P99ms })
		m.Load1 = pick(func(r result) float64 { return r.Load1 })
		for _, r := range rs {
			m.Mismatches += r.Mismatches
			m.Failures += r.Failures
		}
		for name := range rs[0].CPU {
			if m.CPU == nil {
				m.CPU = map[string]float64{}
			}
			m.CPU[name] = pick(func(r result) float64 { return r.CPU[name] })
		}
		out[k] = m
	}
	return out
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
