package crypto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The known-answer vectors in testdata/vectors_v1.json pin format version
// 1 byte for byte: any change to the format makes this test fail. Run
// `go test ./crypto -run TestVectors -update` only when deliberately
// introducing a new format version (and keep the old file).
var update = flag.Bool("update", false, "rewrite testdata/vectors_v1.json")

const vectorsFile = "testdata/vectors_v1.json"

type vectorFile struct {
	Comment  string          `json:"comment"`
	Segments []segmentVector `json:"segments"`
	Records  []recordVector  `json:"records"`
	Wraps    []wrapVector    `json:"wraps"`
}

// segmentVector: the plaintext is PlainSize bytes where byte i is i mod
// 251. Ciphertext is given whole when short, else by its SHA-256.
type segmentVector struct {
	Name         string `json:"name"`
	DataKey      string `json:"data_key"`
	Salt         string `json:"salt"`
	Part         uint32 `json:"part"`
	PlainSize    int64  `json:"plain_size"`
	Attributes   string `json:"attributes"`
	Ciphertext   string `json:"ciphertext,omitempty"`
	CipherSHA256 string `json:"ciphertext_sha256"`
}

type recordVector struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // "metadata" or "manifest"
	DataKey   string `json:"data_key"`
	Salt      string `json:"salt"`
	Plaintext string `json:"plaintext"` // metadata bytes, or the layout as JSON
	AAD       string `json:"aad"`
	Sealed    string `json:"sealed"`
}

type wrapVector struct {
	Name      string `json:"name"`
	MasterKey string `json:"master_key"`
	KeyID     string `json:"key_id"`
	Version   uint32 `json:"key_version"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Multipart bool   `json:"multipart"`
	DataKey   string `json:"data_key"`
	Salt      string `json:"salt"`
	Wrapped   string `json:"wrapped"`
	Envelope  string `json:"envelope_text"`
}

func counterPlain(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func computeSegment(t *testing.T, v *segmentVector) []byte {
	dk, _ := DataKeyFromBytes(hexBytes(t, v.DataKey))
	var buf bytes.Buffer
	w, err := NewWriter(&buf, dk, v.Part, bytes.NewReader(hexBytes(t, v.Salt)))
	if err != nil {
		t.Fatal(err)
	}
	var attrs [AttributesSize]byte
	copy(attrs[:], hexBytes(t, v.Attributes))
	w.SetAttributes(attrs)
	w.Write(counterPlain(v.PlainSize))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func generateVectors(t *testing.T) vectorFile {
	f := vectorFile{Comment: "Cloak object format version 1 known-answer vectors; see docs/FORMAT.md"}
	for i, c := range []struct {
		name string
		part uint32
		size int64
	}{
		{"empty single-part", 0, 0},
		{"one byte", 0, 1},
		{"short", 0, 100},
		{"one chunk", 0, ChunkSize},
		{"chunk plus one", 0, ChunkSize + 1},
		{"multipart part 1", 1, 2*ChunkSize + 5},
		{"multipart part 10000", 10000, 3},
	} {
		v := segmentVector{
			Name: c.name, Part: c.part, PlainSize: c.size,
			DataKey:    hex.EncodeToString(seq(byte(i*16), 32)),
			Salt:       hex.EncodeToString(seq(byte(0x80+i), 32)),
			Attributes: hex.EncodeToString([]byte("attrs")),
		}
		ct := computeSegment(t, &v)
		sum := sha256.Sum256(ct)
		v.CipherSHA256 = hex.EncodeToString(sum[:])
		if len(ct) <= 512 {
			v.Ciphertext = hex.EncodeToString(ct)
		}
		f.Segments = append(f.Segments, v)
	}
	dkBytes := seq(0x40, 32)
	dk, _ := DataKeyFromBytes(dkBytes)
	meta, _ := SealMetadata(dk, []byte(`{"content-type":"text/plain"}`), []byte("aad"), bytes.NewReader(seq(0xa0, 32)))
	f.Records = append(f.Records, recordVector{
		Name: "metadata", Kind: "metadata", DataKey: hex.EncodeToString(dkBytes),
		Salt: hex.EncodeToString(seq(0xa0, 32)), Plaintext: `{"content-type":"text/plain"}`,
		AAD: "aad", Sealed: hex.EncodeToString(meta),
	})
	layout := Layout{{1, 5 << 20}, {3, 7}}
	lj, _ := json.Marshal(layout)
	man, _ := SealManifest(dk, layout, []byte("attrs"), bytes.NewReader(seq(0xb0, 32)))
	f.Records = append(f.Records, recordVector{
		Name: "manifest", Kind: "manifest", DataKey: hex.EncodeToString(dkBytes),
		Salt: hex.EncodeToString(seq(0xb0, 32)), Plaintext: string(lj), Sealed: hex.EncodeToString(man),
	})
	w := wrapVector{
		Name: "key ring wrap", MasterKey: hex.EncodeToString(seq(0x10, 32)), KeyID: "master",
		Version: 3, Bucket: "matters", Key: "acme/brief.pdf", Multipart: true,
		DataKey: hex.EncodeToString(seq(0x20, 32)), Salt: hex.EncodeToString(seq(0x30, 32)),
	}
	computeWrap(t, &w)
	f.Wraps = append(f.Wraps, w)
	return f
}

func computeWrap(t *testing.T, w *wrapVector) {
	ring := NewMemoryKeyRing(bytes.NewReader(hexBytes(t, w.Salt)))
	ring.Add(w.KeyID, w.Version, hexBytes(t, w.MasterKey))
	wk, err := ring.Wrap(context.Background(), hexBytes(t, w.DataKey),
		WrapContext{Bucket: w.Bucket, Key: w.Key, Multipart: w.Multipart})
	if err != nil {
		t.Fatal(err)
	}
	w.Wrapped = hex.EncodeToString(wk.Ciphertext)
	text, err := (&Envelope{Multipart: w.Multipart, WrappedKey: wk}).MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	w.Envelope = string(text)
}

func TestVectors(t *testing.T) {
	if *update {
		b, _ := json.MarshalIndent(generateVectors(t), "", "  ")
		if err := os.WriteFile(filepath.FromSlash(vectorsFile), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.FromSlash(vectorsFile))
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Segments) == 0 || len(f.Records) == 0 || len(f.Wraps) == 0 {
		t.Fatal("vector file is missing sections")
	}
	for _, v := range f.Segments {
		t.Run("segment/"+v.Name, func(t *testing.T) { checkSegmentVector(t, v) })
	}
	for _, v := range f.Records {
		t.Run("record/"+v.Name, func(t *testing.T) { checkRecordVector(t, v) })
	}
	for _, v := range f.Wraps {
		t.Run("wrap/"+v.Name, func(t *testing.T) {
			got := v
			computeWrap(t, &got)
			if got.Wrapped != v.Wrapped || got.Envelope != v.Envelope {
				t.Fatal("wrap or envelope differs from the vector")
			}
		})
	}
}

func checkSegmentVector(t *testing.T, v segmentVector) {
	ct := computeSegment(t, &v)
	sum := sha256.Sum256(ct)
	if hex.EncodeToString(sum[:]) != v.CipherSHA256 {
		t.Fatal("ciphertext differs from the vector")
	}
	if v.Ciphertext != "" && hex.EncodeToString(ct) != v.Ciphertext {
		t.Fatal("ciphertext differs from the vector")
	}
	dk, _ := DataKeyFromBytes(hexBytes(t, v.DataKey))
	layout := Layout{{Number: v.Part, PlainSize: v.PlainSize}}
	r, err := NewReader(bytes.NewReader(ct), dk, layout)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, counterPlain(v.PlainSize)) {
		t.Fatalf("decrypt: %v", err)
	}
}

func checkRecordVector(t *testing.T, v recordVector) {
	dk, _ := DataKeyFromBytes(hexBytes(t, v.DataKey))
	salt := bytes.NewReader(hexBytes(t, v.Salt))
	var sealed []byte
	switch v.Kind {
	case "metadata":
		sealed, _ = SealMetadata(dk, []byte(v.Plaintext), []byte(v.AAD), salt)
		if got, err := OpenMetadata(dk, hexBytes(t, v.Sealed), []byte(v.AAD)); err != nil || string(got) != v.Plaintext {
			t.Fatalf("open: %v", err)
		}
	case "manifest":
		var layout Layout
		json.Unmarshal([]byte(v.Plaintext), &layout)
		sealed, _ = SealManifest(dk, layout, []byte("attrs"), salt)
		if _, attrs, err := OpenManifest(dk, hexBytes(t, v.Sealed)); err != nil || string(attrs) != "attrs" {
			t.Fatalf("open: %v", err)
		}
	default:
		t.Fatalf("unknown kind %q", v.Kind)
	}
	if hex.EncodeToString(sealed) != v.Sealed {
		t.Fatal("sealed record differs from the vector")
	}
}
