//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// A PKCS#11 library has one state per process: C_Initialize succeeds once,
// and C_Finalize ends it for every user. modules shares one loaded library
// per path among the Wrappers of the process and finalises it when the
// last one closes. A library is never unloaded (dlclose): some tokens do
// not survive being loaded twice.
var modules = struct {
	sync.Mutex
	byPath map[string]*module
}{byPath: make(map[string]*module)}

// module is one loaded PKCS#11 library.
type module struct {
	path string
	ctx  *p11.Ctx

	// Guarded by modules.Mutex.
	refs        int
	initialized bool // by us, so ours to finalise
	slots       map[uint]bool
}

// acquireModule loads (once) and initialises the library at path and
// claims slot for the caller. A second claim on the same slot fails: the
// login is shared by all sessions of the process, so two Wrappers on one
// token could not log in or out independently.
func acquireModule(path string, slotOf func(*p11.Ctx) (uint, error)) (*module, uint, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, 0, fmt.Errorf("pkcs11: module: %w", err)
	}
	if abs, err := filepath.EvalSymlinks(path); err == nil {
		path = abs
	}
	modules.Lock()
	defer modules.Unlock()
	m := modules.byPath[path]
	if m == nil {
		ctx := p11.New(path)
		if ctx == nil {
			return nil, 0, fmt.Errorf("pkcs11: cannot load module %s as a PKCS#11 library", path)
		}
		m = &module{path: path, ctx: ctx, slots: make(map[uint]bool)}
		modules.byPath[path] = m
	}
	if m.refs == 0 {
		err := m.ctx.Initialize()
		switch {
		case err == nil:
			m.initialized = true
		case isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
			// Another part of the process initialised it; leave it to
			// finalise it too.
			m.initialized = false
		default:
			return nil, 0, fmt.Errorf("pkcs11: initialise module %s: %w", path, err)
		}
	}
	m.refs++
	slot, err := slotOf(m.ctx)
	if err == nil && m.slots[slot] {
		err = fmt.Errorf("pkcs11: token in slot %d is already open in this process "+
			"(share its Wrapper)", slot)
	}
	if err != nil {
		m.releaseLocked()
		return nil, 0, err
	}
	m.slots[slot] = true
	return m, slot, nil
}

// release gives up the caller's claim on slot and finalises the library
// when no claim is left.
func (m *module) release(slot uint) error {
	modules.Lock()
	defer modules.Unlock()
	delete(m.slots, slot)
	return m.releaseLocked()
}

func (m *module) releaseLocked() error {
	m.refs--
	if m.refs > 0 || !m.initialized {
		return nil
	}
	m.initialized = false
	if err := m.ctx.Finalize(); err != nil {
		return fmt.Errorf("pkcs11: finalise module %s: %w", m.path, err)
	}
	return nil
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, code uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == code
}
