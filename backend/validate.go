package backend

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is the longest object key in bytes, as in S3.
const MaxKeyLength = 1024

// MaxMetadataSize bounds user metadata: the sum of the byte lengths of
// all names and values, as S3 measures its 2 KB limit.
const MaxMetadataSize = 2048

// ValidateBucketName reports whether name follows the S3 rules for new
// buckets: 3 to 63 characters of lower-case letters, digits, dots and
// hyphens, starting and ending with a letter or digit, no two adjacent
// dots, no dot next to a hyphen, not an IPv4 address, and none of the
// reserved prefixes and suffixes. It returns an error wrapping
// ErrInvalidBucketName.
func ValidateBucketName(name string) error {
	if reason := bucketNameProblem(name); reason != "" {
		return fmt.Errorf("bucket %q: %s: %w", name, reason, ErrInvalidBucketName)
	}
	return nil
}

func bucketNameProblem(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "must be 3 to 63 characters long"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "may hold only lower-case letters, digits, dots and hyphens"
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return "must start and end with a letter or digit"
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") ||
		strings.Contains(name, "-.") {
		return "must not hold adjacent dots or a dot next to a hyphen"
	}
	if addr, err := netip.ParseAddr(name); err == nil && addr.Is4() {
		return "must not be an IP address"
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return "reserved prefix " + p
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return "reserved suffix " + s
		}
	}
	return ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// ValidateKey reports whether key can be stored: 1 to MaxKeyLength bytes
// of valid UTF-8 without NUL. Any other key, including ones with "..",
// "//" or a leading "/", is valid. It returns an error wrapping
// ErrInvalidKey.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("key of %d bytes, more than %d: %w", len(key), MaxKeyLength,
			ErrInvalidKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("key is not valid UTF-8: %w", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key contains NUL: %w", ErrInvalidKey)
	}
	return nil
}

// NormalizeMetadata checks user metadata and returns a copy with names in
// lower case (nil for empty metadata). Names must be HTTP header tokens
// and, once lower-cased, unique; values must be valid UTF-8 without
// control characters other than tab; names and values together must not
// exceed MaxMetadataSize bytes. It returns an error wrapping
// ErrInvalidArgument or ErrMetadataTooLarge.
func NormalizeMetadata(md map[string]string) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(md))
	total := 0
	for name, value := range md {
		if err := checkMetaName(name); err != nil {
			return nil, err
		}
		if err := checkMetaValue(name, value); err != nil {
			return nil, err
		}
		lower := strings.ToLower(name)
		if _, dup := out[lower]; dup {
			return nil, fmt.Errorf("metadata name %q given twice: %w", lower,
				ErrInvalidArgument)
		}
		out[lower] = value
		total += len(name) + len(value)
	}
	if total > MaxMetadataSize {
		return nil, fmt.Errorf("metadata of %d bytes, more than %d: %w", total,
			MaxMetadataSize, ErrMetadataTooLarge)
	}
	return out, nil
}

func checkMetaName(name string) error {
	if name == "" {
		return fmt.Errorf("empty metadata name: %w", ErrInvalidArgument)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("metadata name %q is not an HTTP token: %w", name,
				ErrInvalidArgument)
		}
	}
	return nil
}

func checkMetaValue(name, value string) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("metadata %q: value is not valid UTF-8: %w", name,
			ErrInvalidArgument)
	}
	for _, r := range value {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("metadata %q: value holds a control character: %w", name,
				ErrInvalidArgument)
		}
	}
	return nil
}

// isTokenChar reports whether c may appear in an HTTP header name
// (RFC 9110 tchar).
func isTokenChar(c byte) bool {
	if isAlnum(c) || c >= 'A' && c <= 'Z' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
