package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Source is a named piece of audit log: a file or a backend object.
type Source struct {
	Name string
	Data []byte
}

// ReadFiles reads audit files in the order given; a directory stands for
// its *.log files in name order (rotated files first, as FileSink names
// them).
func ReadFiles(paths []string) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		names := []string{p}
		if st.IsDir() {
			if names, err = filepath.Glob(filepath.Join(p, "*.log")); err != nil {
				return nil, err
			}
			sort.Strings(names)
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			out = append(out, Source{Name: n, Data: b})
		}
	}
	return out, nil
}

// Problem is one break in the evidence, located by source and line.
type Problem struct {
	Source  string
	Line    int
	Writer  string
	Seq     uint64
	Message string
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s:%d", p.Source, p.Line)
	if p.Writer != "" {
		s += fmt.Sprintf(": writer %s seq %d", p.Writer, p.Seq)
	}
	return s + ": " + p.Message
}

// Chain summarises one writer's chain.
type Chain struct {
	Writer   string
	Records  int    // records seen, checkpoints included
	First    uint64 // first sequence number seen
	Last     uint64
	Signed   uint64 // sequence number of the last valid checkpoint
	Final    bool   // closed by a final checkpoint
	Unproven int    // records after the last valid checkpoint
}

// Result is the outcome of Verify.
type Result struct {
	Chains   []Chain
	Problems []Problem
	Warnings []string
}

// OK reports whether no problem was found.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Trusted are the keys whose checkpoint signatures count. When
	// empty, any key counts, which proves the log consistent with
	// itself only: a forger can re-sign a rewritten log with a key of
	// their own. A warning says so.
	Trusted []ed25519.PublicKey
	// Live accepts chains without a final checkpoint, for a log still
	// being written; otherwise such a chain is a problem, since its tail
	// may have been cut.
	Live bool
}

// chainState is Verify's state for one writer.
type chainState struct {
	Chain
	prev     string // hash of the last line
	prevSrc  string // where the last line was
	prevLine int
	keys     map[string]bool
}

// Verify checks the chains and checkpoint signatures of the records in
// srcs, read in order. It reports the first problem of each kind it can
// place: a malformed line, a missing, repeated or out-of-order record, a
// link that does not match (an edited, removed or inserted record), a
// checkpoint whose signature fails or whose key is not trusted, and a
// chain that ends without its final checkpoint.
func Verify(srcs []Source, opts VerifyOptions) *Result {
	res := &Result{}
	chains := map[string]*chainState{}
	var order []string
	trusted := map[string]bool{}
	for _, k := range opts.Trusted {
		trusted[string(k)] = true
	}
	for _, src := range srcs {
		sc := bufio.NewScanner(bytes.NewReader(src.Data))
		sc.Buffer(make([]byte, 0, 64<<10), maxLine+1)
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			rec, err := ParseRecord(line)
			if err != nil {
				res.Problems = append(res.Problems,
					Problem{Source: src.Name, Line: n, Message: err.Error()})
				continue
			}
			c := chains[rec.Writer]
			if c == nil {
				c = &chainState{Chain: Chain{Writer: rec.Writer}, keys: map[string]bool{}}
				chains[rec.Writer] = c
				order = append(order, rec.Writer)
			}
			c.check(res, src.Name, n, line, rec, trusted)
		}
		if err := sc.Err(); err != nil {
			res.Problems = append(res.Problems, Problem{Source: src.Name, Message: err.Error()})
		}
	}
	for _, w := range order {
		c := chains[w]
		c.finish(res, opts.Live)
		res.Chains = append(res.Chains, c.Chain)
	}
	if len(trusted) == 0 {
		res.Warnings = append(res.Warnings, "no trusted public key given: checkpoint signatures "+
			"were checked against the keys in the log itself, which a forger could replace")
	}
	return res
}

// check verifies one record against its chain.
func (c *chainState) check(res *Result, src string, n int, line []byte, rec *Record,
	trusted map[string]bool) {
	at := fmt.Sprintf("%s:%d", src, n)
	bad := func(format string, args ...any) {
		res.Problems = append(res.Problems, Problem{Source: src, Line: n, Writer: rec.Writer,
			Seq: rec.Seq, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Records == 0:
		c.First = rec.Seq
		if rec.Seq != 1 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: writer %s begins at seq %d: "+
				"its earlier records are not among the files given", at, rec.Writer, rec.Seq))
		} else if rec.Prev != "" {
			bad("first record of the chain names a previous record")
		}
	case c.Final:
		bad("record after the writer's final checkpoint (seq %d)", c.Last)
	case rec.Seq > c.Last+1:
		bad("records %d to %d are missing", c.Last+1, rec.Seq-1)
	case rec.Seq <= c.Last:
		bad("out of order or repeated: expected seq %d", c.Last+1)
	case rec.Prev != c.prev:
		bad("link broken: the previous record (%s:%d) was edited, or a record was removed "+
			"or inserted before this one", c.prevSrc, c.prevLine)
	}
	c.Records++
	c.Last = rec.Seq
	c.prev, c.prevSrc, c.prevLine = lineHash(line), src, n
	c.Unproven++
	if rec.Kind != KindCheckpoint {
		return
	}
	pub, ok := checkSignature(rec)
	switch {
	case !ok:
		bad("checkpoint signature is invalid: forged or edited checkpoint")
		return
	case len(trusted) > 0 && !trusted[string(pub)]:
		bad("checkpoint signed by an untrusted key %s", EncodePublicKey(pub))
		return
	case len(trusted) == 0 && len(c.keys) > 0 && !c.keys[string(pub)]:
		bad("checkpoint signed by another key than the writer's earlier checkpoints")
		return
	}
	c.keys[string(pub)] = true
	c.Signed, c.Unproven = rec.Seq, 0
	c.Final = rec.Final
}

// finish reports a chain that ends without a final checkpoint.
func (c *chainState) finish(res *Result, live bool) {
	if c.Final {
		return
	}
	msg := fmt.Sprintf("writer %s has no final checkpoint: %d records after seq %d (its last "+
		"signed checkpoint) are unproven, and records after them may have been cut",
		c.Writer, c.Unproven, c.Signed)
	if live {
		res.Warnings = append(res.Warnings, msg)
		return
	}
	res.Problems = append(res.Problems, Problem{Source: c.prevSrc, Line: c.prevLine, Writer: c.Writer,
		Seq: c.Last, Message: "chain ends here: " + msg})
}

// ErrBroken is returned by callers that turn a failed Result into an
// error.
var ErrBroken = errors.New("audit log failed verification")
