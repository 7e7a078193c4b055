// Package audit keeps Cloak's tamper-evident audit log: one JSON line per
// request or administrative act, chained by hashes and signed at
// checkpoints, written to one or more sinks without slowing requests.
//
// # Records and chains
//
// A [Record] is one JSON object on one line. Every process that writes
// records (each running server, each command-line run that records an
// administrative act) is a writer with its own id and its own chain: its
// records carry sequence numbers 1, 2, 3, ... and each carries in Prev the
// SHA-256 of the previous line's bytes (without the newline). Chains of
// several writers may interleave in one file; each is verified on its
// own.
//
// # Checkpoints
//
// Every N records and every T seconds, and when the writer closes, the
// writer adds a checkpoint record: an Ed25519 signature over the writer
// id, the checkpoint's sequence number, time, Final flag and Prev, which
// by the chain commits to every record before it. The last checkpoint of
// a clean shutdown is marked Final. Editing, removing, inserting or
// reordering records before a checkpoint breaks a link or a signature;
// cutting the tail is visible as a chain that lacks its final
// checkpoint, but which records followed the last checkpoint cannot be
// known.
//
// [Verify] checks chains and signatures; [ReadFiles] and [Summarise]
// build reports. The package holds no secret other than the signing key
// given to [New], and records never hold secrets.
package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Kinds of records.
const (
	KindRequest    = "request"
	KindAdmin      = "admin"
	KindCheckpoint = "checkpoint"
)

// Record is one line of the audit log.
type Record struct {
	// Chain fields, set by the Logger.
	Writer string `json:"writer"`
	Seq    uint64 `json:"seq"`
	// Prev is the hex SHA-256 of the previous line of this writer's
	// chain; empty for the first record.
	Prev string    `json:"prev"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`

	// What happened.
	RequestID string `json:"request_id,omitempty"`
	User      string `json:"user,omitempty"`
	AccessKey string `json:"access_key,omitempty"`
	Source    string `json:"source,omitempty"`
	// Action is the S3 operation ("GetObject") or the administrative
	// act ("keys rotate").
	Action     string  `json:"action,omitempty"`
	Bucket     string  `json:"bucket,omitempty"`
	Key        string  `json:"key,omitempty"`
	BytesIn    int64   `json:"bytes_in,omitempty"`
	BytesOut   int64   `json:"bytes_out,omitempty"`
	Status     int     `json:"status,omitempty"`
	Code       string  `json:"code,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	KeyID      string  `json:"key_id,omitempty"`
	KeyVersion uint32  `json:"key_version,omitempty"`
	// Detail says more about an administrative act ("version 3").
	Detail            string `json:"detail,omitempty"`
	PossibleTampering bool   `json:"possible_tampering"`

	// Checkpoint fields: the signer's public key and the signature,
	// base64 (standard encoding); Final marks a clean close.
	PublicKey string `json:"public_key,omitempty"`
	Signature string `json:"signature,omitempty"`
	Final     bool   `json:"final,omitempty"`
}

// Limits of a record line.
const maxLine = 64 << 10

// ErrMalformed is returned for a line that is not a record.
var ErrMalformed = errors.New("audit: malformed record")

// ParseRecord parses one line (without its newline).
func ParseRecord(line []byte) (*Record, error) {
	if len(line) == 0 || len(line) > maxLine {
		return nil, fmt.Errorf("%w: line of %d bytes", ErrMalformed, len(line))
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the record", ErrMalformed)
	}
	switch {
	case r.Writer == "":
		return nil, fmt.Errorf("%w: no writer", ErrMalformed)
	case r.Seq == 0:
		return nil, fmt.Errorf("%w: no sequence number", ErrMalformed)
	case r.Prev != "" && !isHexHash(r.Prev):
		return nil, fmt.Errorf("%w: prev is not a SHA-256", ErrMalformed)
	case r.Kind != KindRequest && r.Kind != KindAdmin && r.Kind != KindCheckpoint:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrMalformed, r.Kind)
	}
	return &r, nil
}

func isHexHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// lineHash is the chain hash of a line: hex SHA-256 of its bytes.
func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

// signedBytes is what a checkpoint's signature covers: every field of
// the checkpoint but the key and the signature.
func signedBytes(r *Record) []byte {
	return []byte("cloak-audit-checkpoint-v1\n" + r.Writer + "\n" + strconv.FormatUint(r.Seq, 10) +
		"\n" + r.Prev + "\n" + r.Time.UTC().Format(time.RFC3339Nano) + "\n" +
		strconv.FormatBool(r.Final) + "\n")
}

// sign fills in r's checkpoint signature.
func sign(r *Record, key ed25519.PrivateKey) {
	pub := key.Public().(ed25519.PublicKey)
	r.PublicKey = base64.StdEncoding.EncodeToString(pub)
	sig := ed25519.Sign(key, signedBytes(r))
	r.Signature = base64.StdEncoding.EncodeToString(sig)
}

// checkSignature reports whether checkpoint r is signed by its public
// key, and returns that key.
func checkSignature(r *Record) (ed25519.PublicKey, bool) {
	pub, err := base64.StdEncoding.DecodeString(r.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, false
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, false
	}
	ok := ed25519.Verify(pub, signedBytes(r), sig)
	return pub, ok
}

// EncodePublicKey returns the text form of a verification key, as
// "cloak audit verify --public-key" takes it.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the form EncodePublicKey returns.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("audit: not an Ed25519 public key in base64")
	}
	return ed25519.PublicKey(b), nil
}
