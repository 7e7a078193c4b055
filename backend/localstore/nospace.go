package localstore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cloakproxy/cloak/backend"
)

// noSpace marks err with backend.ErrInsufficientStorage when the file
// system ran out of space or quota, so the proxy can say so; the cause
// stays wrapped.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", backend.ErrInsufficientStorage, err)
	}
	return err
}
