package backendtest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/cloakproxy/cloak/backend"
)

func testConcurrentPuts(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() { // distinct keys
			defer wg.Done()
			body := data(uint64(100+i), 20_000)
			_, err := st.PutObject(ctx(t), b, fmt.Sprintf("k/%d", i), bytes.NewReader(body),
				int64(len(body)), backend.PutOptions{})
			errs <- err
		}()
		go func() { // one contended key: some writer wins whole
			defer wg.Done()
			body := data(200, 20_000+int64(i))
			_, err := st.PutObject(ctx(t), b, "same", bytes.NewReader(body), int64(len(body)),
				backend.PutOptions{Metadata: map[string]string{"writer": fmt.Sprint(i)}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent put: %v", err)
		}
	}
	for i := range n {
		got, _ := get(t, st, b, fmt.Sprintf("k/%d", i), 0, -1)
		if !bytes.Equal(got, data(uint64(100+i), 20_000)) {
			t.Errorf("k/%d differs", i)
		}
	}
	got, info := get(t, st, b, "same", 0, -1)
	var w int
	if _, err := fmt.Sscan(info.Metadata["writer"], &w); err != nil ||
		!bytes.Equal(got, data(200, 20_000+int64(w))) {
		t.Errorf("contended key holds %d bytes from writer %q: torn write", len(got),
			info.Metadata["writer"])
	}
}

func testConcurrentParts(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	id := createUpload(t, st, b, "par", nil)
	const n = 3
	bodies := make([][]byte, n)
	parts := make([]backend.CompletePart, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		size := cfg.PartSize
		if i == n-1 {
			size = 1234
		}
		bodies[i] = data(uint64(300+i), size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := st.UploadPart(ctx(t), b, "par", id, i+1, bytes.NewReader(bodies[i]), size)
			parts[i], errs[i] = backend.CompletePart{PartNumber: i + 1, ETag: p.ETag}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent UploadPart: %v", err)
		}
	}
	_, err := st.CompleteMultipartUpload(ctx(t), b, "par", id, parts, backend.CompleteOptions{})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got, _ := get(t, st, b, "par", 0, -1)
	if !bytes.Equal(got, bytes.Join(bodies, nil)) {
		t.Error("object from concurrently uploaded parts differs")
	}
}
