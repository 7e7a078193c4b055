package pkcs11

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config says which token to use and which master keys on it.
type Config struct {
	// Module is the path of the PKCS#11 library, for example
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel selects the token by its label. Set it, or Slot, or
	// both (then the token in Slot must carry TokenLabel).
	TokenLabel string
	// Slot selects the token by slot id.
	Slot *uint
	// PIN is the user PIN. It is used to log in and appears in no error.
	PIN string
	// KeyLabel names the master key of buckets without an entry in
	// BucketKeys.
	KeyLabel string
	// BucketKeys maps a bucket to the label of its own master key.
	BucketKeys map[string]string
	// Create makes Open generate version 1 of KeyLabel and of every
	// BucketKeys label that has no version on the token yet.
	Create bool
	// Sessions bounds the PKCS#11 sessions used for concurrent work
	// (default 4).
	Sessions int
	// RefreshInterval is how long Wrap trusts its list of key versions
	// before rereading the token, so a rotation made by another process
	// takes effect (default one minute).
	RefreshInterval time.Duration
}

const (
	defaultSessions        = 4
	defaultRefreshInterval = time.Minute
	maxSessions            = 256
	// maxLabelLen bounds a master key label: it becomes the KeyID of a
	// wrapped key, which the envelope limits to 255 bytes.
	maxLabelLen = 255
	// versionSep separates label and version in a token object label.
	versionSep = ".v"
)

// ErrUnavailable is returned by Open in a binary built without cgo.
var ErrUnavailable = errors.New(
	"pkcs11: built without cgo: the PKCS#11 provider is unavailable")

// ErrLogin is wrapped by the error Open returns when the token refuses the
// PIN (incorrect, locked, expired). The error never contains the PIN.
var ErrLogin = errors.New("pkcs11: token refused the login")

// ErrClosed is returned by calls on a closed Wrapper.
var ErrClosed = errors.New("pkcs11: wrapper is closed")

// check validates c and returns it with defaults filled in.
func (c Config) check() (Config, error) {
	if c.Module == "" {
		return c, errors.New("pkcs11: config: Module (the PKCS#11 library path) is required")
	}
	if c.TokenLabel == "" && c.Slot == nil {
		return c, errors.New("pkcs11: config: TokenLabel or Slot is required")
	}
	if len(c.TokenLabel) > 32 {
		return c, errors.New("pkcs11: config: TokenLabel is longer than 32 bytes")
	}
	if err := CheckLabel(c.KeyLabel); err != nil {
		return c, fmt.Errorf("pkcs11: config: KeyLabel: %w", err)
	}
	for bucket, label := range c.BucketKeys {
		if err := CheckLabel(label); err != nil {
			return c, fmt.Errorf("pkcs11: config: BucketKeys[%q]: %w", bucket, err)
		}
	}
	switch {
	case c.Sessions == 0:
		c.Sessions = defaultSessions
	case c.Sessions < 0 || c.Sessions > maxSessions:
		return c, fmt.Errorf("pkcs11: config: Sessions must be 1..%d", maxSessions)
	}
	switch {
	case c.RefreshInterval == 0:
		c.RefreshInterval = defaultRefreshInterval
	case c.RefreshInterval < 0:
		return c, errors.New("pkcs11: config: RefreshInterval is negative")
	}
	return c, nil
}

// labels returns the distinct master key labels that c configures.
func (c Config) labels() []string {
	out := []string{c.KeyLabel}
	for _, l := range c.BucketKeys {
		if !contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// labelFor returns the master key label of bucket.
func (c Config) labelFor(bucket string) string {
	if l, ok := c.BucketKeys[bucket]; ok {
		return l
	}
	return c.KeyLabel
}

// CheckLabel reports whether label can name a master key: 1 to 255 bytes
// of UTF-8 without control characters.
func CheckLabel(label string) error {
	switch {
	case label == "":
		return errors.New("empty master key label")
	case len(label) > maxLabelLen:
		return fmt.Errorf("master key label is longer than %d bytes", maxLabelLen)
	case !utf8.ValidString(label):
		return errors.New("master key label is not UTF-8")
	case strings.ContainsFunc(label, unicode.IsControl):
		return errors.New("master key label has a control character")
	}
	return nil
}

// ObjectLabel returns the CKA_LABEL of version v of master key label:
// label + ".v" + v in decimal.
func ObjectLabel(label string, v uint32) string {
	return label + versionSep + strconv.FormatUint(uint64(v), 10)
}

// parseObjectLabel reports whether object label obj is a version of
// master key label, and which. It is the inverse of [ObjectLabel]: the
// version must be canonical decimal (no sign, no leading zero) and not 0,
// so one object label names at most one (label, version).
func parseObjectLabel(label, obj string) (uint32, bool) {
	rest, ok := strings.CutPrefix(obj, label+versionSep)
	if !ok || rest == "" || rest[0] == '0' || len(rest) > 10 {
		return 0, false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}
