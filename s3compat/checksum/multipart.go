package checksum

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
)

// Composite returns S3's composite checksum of a multipart object:
// the base64 of a's hash over the concatenated raw part checksums,
// followed by "-" and the number of parts ("abcd==-3"). parts holds the
// raw (decoded) checksum of each part in part-number order.
func Composite(a Algorithm, parts [][]byte) (string, error) {
	if !a.valid() {
		return "", fmt.Errorf("checksum: composite of invalid algorithm %v", a)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("checksum: composite of no parts")
	}
	h := a.New()
	for i, p := range parts {
		if len(p) != a.Size() {
			return "", fmt.Errorf("checksum: part %d has a %d-byte %v, want %d",
				i+1, len(p), a, a.Size())
		}
		h.Write(p)
	}
	return a.Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// Part is one part's raw checksum and plaintext size, for [CombineCRC].
type Part struct {
	Sum  []byte
	Size int64
}

// CombineCRC returns the full-object checksum of a multipart object from
// its parts' CRCs and sizes, equal to the CRC of the concatenated data,
// without reading that data. It supports CRC32, CRC32C and CRC64NVME;
// SHA1 and SHA256 cannot be combined and return an error.
func CombineCRC(a Algorithm, parts []Part) ([]byte, error) {
	c, ok := crcParamsOf(a)
	if !ok {
		return nil, fmt.Errorf("checksum: %v cannot be combined into a full-object checksum", a)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("checksum: combine of no parts")
	}
	var crc uint64
	for i, p := range parts {
		if len(p.Sum) != a.Size() || p.Size < 0 {
			return nil, fmt.Errorf("checksum: part %d has a %d-byte %v and size %d",
				i+1, len(p.Sum), a, p.Size)
		}
		v := c.load(p.Sum)
		if i == 0 {
			crc = v
			continue
		}
		crc = c.mulmod(c.xpow8n(p.Size), crc) ^ v
	}
	return c.store(crc), nil
}

// crcParams describes a reflected CRC whose initial value and final XOR
// are both all ones, as CRC32, CRC32C and CRC64NVME are. Polynomials are
// held reflected: the most significant bit is the coefficient of x^0.
type crcParams struct {
	width int
	poly  uint64     // reflected generator polynomial, without x^width
	pow2k [67]uint64 // pow2k[k] = x^(2^k) mod poly
}

var (
	paramsCRC32     = newCRCParams(32, crc32.IEEE)
	paramsCRC32C    = newCRCParams(32, crc32.Castagnoli)
	paramsCRC64NVME = newCRCParams(64, 0x9a6c9329ac4bc9b5)
)

func crcParamsOf(a Algorithm) (*crcParams, bool) {
	switch a {
	case CRC32:
		return paramsCRC32, true
	case CRC32C:
		return paramsCRC32C, true
	case CRC64NVME:
		return paramsCRC64NVME, true
	}
	return nil, false
}

func newCRCParams(width int, poly uint64) *crcParams {
	c := &crcParams{width: width, poly: poly}
	c.pow2k[0] = c.top() >> 1 // x^1
	for k := 1; k < len(c.pow2k); k++ {
		c.pow2k[k] = c.mulmod(c.pow2k[k-1], c.pow2k[k-1])
	}
	return c
}

// top returns the representation of x^0, the polynomial 1.
func (c *crcParams) top() uint64 { return 1 << (c.width - 1) }

// mulmod returns a*b modulo the generator polynomial.
func (c *crcParams) mulmod(a, b uint64) uint64 {
	var p uint64
	for m := c.top(); m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xpow8n returns x^(8n) modulo the generator polynomial: the operator that
// advances a CRC state over n bytes of zeros.
func (c *crcParams) xpow8n(n int64) uint64 {
	p := c.top()
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = c.mulmod(c.pow2k[k], p)
		}
	}
	return p
}

func (c *crcParams) load(b []byte) uint64 {
	if c.width == 32 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func (c *crcParams) store(v uint64) []byte {
	if c.width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	return binary.BigEndian.AppendUint64(nil, v)
}
