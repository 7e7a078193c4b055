package s3compat

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// ValidBucketName reports whether name follows S3's rules for general
// purpose bucket names: 3 to 63 characters of lowercase letters, digits,
// dots and hyphens; starting and ending with a letter or digit; no two
// adjacent dots; not an IPv4 address. When creating is set it also
// applies the rules S3 enforces only at creation: no "xn--", "sthree-" or
// "amzn-s3-demo-" prefix and no "-s3alias", "--ol-s3", ".mrap", "--x-s3"
// or "--table-s3" suffix.
//
// Legacy us-east-1 names with capitals or underscores are rejected.
func ValidBucketName(name string, creating bool) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(name)-1 {
				return false
			}
			if c == '.' && name[i-1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	if creating {
		for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
			if strings.HasPrefix(name, p) {
				return false
			}
		}
		for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
			if strings.HasSuffix(name, s) {
				return false
			}
		}
	}
	return true
}

// CopySource is a parsed x-amz-copy-source header.
type CopySource struct {
	Bucket    string
	Key       string
	VersionID string // empty when no versionId was given
}

var errCopySource = s3err.ErrInvalidArgument.WithMessage(
	"Copy Source must mention the source bucket and key: sourcebucket/sourcekey")

// ParseCopySource parses an x-amz-copy-source value: a URL-encoded
// "bucket/key", with an optional leading "/" and an optional
// "?versionId=id". The key is unescaped once, like a request path, so a
// "+" stays a plus. Errors are InvalidArgument, InvalidBucketName and
// KeyTooLongError.
func ParseCopySource(v string) (CopySource, error) {
	v = strings.TrimPrefix(v, "/")
	var cs CopySource
	if path, query, ok := strings.Cut(v, "?"); ok {
		q, err := url.ParseQuery(query)
		if err != nil || len(q) != 1 || !q.Has("versionId") || q.Get("versionId") == "" {
			return CopySource{}, s3err.ErrInvalidArgument.WithMessage(
				"Invalid version id specified")
		}
		v, cs.VersionID = path, q.Get("versionId")
	}
	dec, err := url.PathUnescape(v)
	if err != nil {
		return CopySource{}, errCopySource.WithCause(err)
	}
	bucket, key, ok := strings.Cut(dec, "/")
	if !ok || bucket == "" || key == "" {
		return CopySource{}, errCopySource
	}
	if !ValidBucketName(bucket, false) {
		return CopySource{}, s3err.ErrInvalidBucketName
	}
	if len(key) > MaxKeyLength {
		return CopySource{}, s3err.ErrKeyTooLong
	}
	cs.Bucket, cs.Key = bucket, key
	return cs, nil
}

var errPartNumber = s3err.ErrInvalidArgument.WithMessage(
	"Part number must be an integer between 1 and 10000, inclusive")

// ParsePartNumber parses a partNumber parameter: an integer from 1 to
// MaxParts, or InvalidArgument.
func ParsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxParts {
		return 0, errPartNumber
	}
	return n, nil
}

// ParseMaxKeys parses a max-keys, max-uploads or max-parts parameter
// named param: "" gives MaxListKeys, values above MaxListKeys are capped
// to it as S3 does, and anything that is not a non-negative integer is
// InvalidArgument.
func ParseMaxKeys(param, v string) (int, error) {
	if v == "" {
		return MaxListKeys, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, s3err.ErrInvalidArgument.WithMessagef(
			"Provided %s not an integer or within integer range", param)
	}
	return int(min(n, MaxListKeys)), nil
}
