package s3store

import (
	"encoding/base64"
	"strings"
)

const metaPrefix = "x-amz-meta-"

// encodeMetadata turns normalised user metadata into request headers.
// Names get the x-amz-meta- prefix here, so minio-go passes them through
// as they are; values are encoded by encodeValue.
func encodeMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[metaPrefix+k] = encodeValue(v)
	}
	return out
}

// encodeValue returns v as it is if HTTP carries it unchanged, else as
// one RFC 2047 "B" encoded word of its UTF-8 bytes.
func encodeValue(v string) string {
	if !needsEncoding(v) {
		return v
	}
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}

func needsEncoding(v string) bool {
	if strings.HasPrefix(v, "=?") || strings.TrimSpace(v) != v {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return true
		}
	}
	return false
}

// decodeMetadata turns the user metadata minio-go read (prefix removed,
// names in canonical header case) back into the map the caller stored.
// minio-go has already decoded values that start with "=?" (RFC 2047);
// decoding again would corrupt a stored value that itself looks encoded.
func decodeMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[strings.ToLower(k)] = v
	}
	return out
}
