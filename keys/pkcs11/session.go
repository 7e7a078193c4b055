//go:build cgo

package pkcs11

import (
	"context"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// sessionPool lends PKCS#11 sessions, one operation at a time each. It
// opens sessions lazily, up to its capacity, and closes one that the
// token reports broken instead of lending it again.
type sessionPool struct {
	ctx  *p11.Ctx
	slot uint
	sem  chan struct{}          // one token per session in use
	idle chan p11.SessionHandle // opened sessions not in use
}

func newSessionPool(ctx *p11.Ctx, slot uint, size int) *sessionPool {
	return &sessionPool{
		ctx:  ctx,
		slot: slot,
		sem:  make(chan struct{}, size),
		idle: make(chan p11.SessionHandle, size),
	}
}

// get waits for a session, or for ctx to end.
func (p *sessionPool) get(ctx context.Context) (p11.SessionHandle, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("pkcs11: waiting for a session: %w", ctx.Err())
	}
	select {
	case s := <-p.idle:
		return s, nil
	default:
	}
	s, err := p.ctx.OpenSession(p.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		<-p.sem
		return 0, fmt.Errorf("pkcs11: open session: %w", err)
	}
	return s, nil
}

// put returns session s after an operation that ended with err (nil or
// not). A session that err shows to be unusable is closed.
func (p *sessionPool) put(s p11.SessionHandle, err error) {
	if sessionBroken(err) {
		_ = p.ctx.CloseSession(s) // it is gone already, or useless
	} else {
		p.idle <- s
	}
	<-p.sem
}

// close closes the idle sessions. The caller makes sure none is in use.
func (p *sessionPool) close() {
	for {
		select {
		case s := <-p.idle:
			_ = p.ctx.CloseSession(s) // nothing to do about a failure here
		default:
			return
		}
	}
}

// sessionBroken reports whether err means the session cannot serve
// another operation.
func sessionBroken(err error) bool {
	for _, code := range []uint{
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED,
		p11.CKR_DEVICE_REMOVED, p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT,
		p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_OPERATION_ACTIVE,
	} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}
