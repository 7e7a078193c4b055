package cmd

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cloakproxy/cloak/metrics"
)

// TestMonitor_PprofOnlyWhenAsked checks that the metrics listener serves
// Go's profiling handlers when metrics.pprof is set, and not otherwise.
func TestMonitor_PprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		m := &monitor{reg: metrics.NewRegistry(), pprof: on}
		srv := httptest.NewServer(m.handler())
		for path, want := range map[string]int{
			"/metrics":               http.StatusOK,
			"/debug/pprof/":          http.StatusNotFound,
			"/debug/pprof/cmdline":   http.StatusNotFound,
			"/debug/pprof/goroutine": http.StatusNotFound,
		} {
			if on && path != "/metrics" {
				want = http.StatusOK
			}
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof %v: GET %s: %d, want %d", on, path, resp.StatusCode, want)
			}
		}
		srv.Close()
	}
}
