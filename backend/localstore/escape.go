package localstore

import (
	"errors"
	"path"
	"strings"
)

// Object keys map to paths below a bucket's directory one to one:
//
//   - The key is split at "/" into segments; every segment but the last
//     becomes a directory, the last one the object's file.
//   - Each segment is escaped: bytes other than a-z, 0-9, "-", "_" and "."
//     become "%XX" (upper-case hex), so upper-case letters, "%", "/", NUL
//     and every non-ASCII byte are escaped and names stay unique on
//     case-insensitive file systems.
//   - The escaped segment gets a one-letter tag: "d" for a directory, "o"
//     for the object file. So "a/b" (file "da/ob") and "a/b/c" (file
//     "da/db/oc") coexist, the empty segments of "a//b" and "a/b/" become
//     "d" and "o", and "." or ".." become "o." or "d..", which are
//     ordinary names. No name starts with a dot or an underscore, which
//     leaves those for the store's own files.
//   - An escaped segment longer than maxChunk bytes is cut into chunks
//     (never inside a "%XX"); each chunk but the last is a directory
//     tagged "l" that continues the segment.
//
// Decoding reverses each step, so two keys never share a file and no key
// leaves the bucket directory.

// maxChunk bounds one escaped chunk so a file name (tag plus chunk) stays
// far below the usual 255-byte limit.
const maxChunk = 200

const (
	tagDir      = 'd'
	tagObject   = 'o'
	tagLongPart = 'l'
)

var errBadName = errors.New("not an encoded key")

// keyPath returns the slash-separated path of key's file relative to its
// bucket directory.
func keyPath(key string) string {
	segs := strings.Split(key, "/")
	var parts []string
	for i, seg := range segs {
		tag := byte(tagDir)
		if i == len(segs)-1 {
			tag = tagObject
		}
		parts = append(parts, segmentNames(escapeSegment(seg), tag)...)
	}
	return path.Join(parts...)
}

// segmentNames cuts an escaped segment into tagged path components.
func segmentNames(esc string, last byte) []string {
	var names []string
	for len(esc) > maxChunk {
		cut := maxChunk
		// Do not split "%XX": back up if the cut lands inside one.
		if i := strings.LastIndexByte(esc[cut-2:cut], '%'); i >= 0 {
			cut = cut - 2 + i
		}
		names = append(names, string(tagLongPart)+esc[:cut])
		esc = esc[cut:]
	}
	return append(names, string(last)+esc)
}

const hexDigits = "0123456789ABCDEF"

func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// unescapeSegment reverses escapeSegment, rejecting any text that
// escapeSegment could not have produced.
func unescapeSegment(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(s) {
			return "", errBadName
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		v := byte(hi<<4 | lo)
		if hi < 0 || lo < 0 || isPlain(v) {
			return "", errBadName
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

// keyDecoder rebuilds keys while walking a bucket's tree: it holds the
// key text decoded so far for the directories above.
type keyDecoder struct {
	prefix  string // complete segments, each followed by "/"
	pending string // chunks of an unfinished long segment (escaped)
}

// child returns the decoder for a directory entry name, or ok false if
// the name is not one of ours (such as a temp file or "_bucket.json").
func (d keyDecoder) child(name string) (next keyDecoder, key string, isObject, ok bool) {
	if name == "" {
		return d, "", false, false
	}
	switch name[0] {
	case tagLongPart:
		if len(name) == 1 {
			return d, "", false, false
		}
		return keyDecoder{d.prefix, d.pending + name[1:]}, "", false, true
	case tagDir, tagObject:
		seg, err := unescapeSegment(d.pending + name[1:])
		if err != nil {
			return d, "", false, false
		}
		if name[0] == tagObject {
			return d, d.prefix + seg, true, true
		}
		return keyDecoder{prefix: d.prefix + seg + "/"}, "", false, true
	}
	return d, "", false, false
}
