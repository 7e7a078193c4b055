package localstore

import (
	"testing"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/backendtest"
)

// newTestStore opens a store in a fresh directory with a small minimum
// part size so multipart tests stay small.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.MinPartSize = 64 << 10
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Config{
		NewStore:            func(t *testing.T) backend.Store { return newTestStore(t) },
		PartSize:            64 << 10,
		UnknownSizeBytes:    4 << 20,
		AllKeys:             true,
		ListUploadsByPrefix: true,
		ListsNestedKeys:     true,
		ListsAnyDelimiter:   true,
		ListsMetadata:       true,
	})
}
