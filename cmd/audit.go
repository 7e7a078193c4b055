package cmd

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/keys"
)

// auditCmd is one run of "cloak audit verify" or "cloak audit report".
type auditCmd struct {
	cfg            *config.Config
	stdout, stderr io.Writer

	publicKeys string
	live       bool
	fromStore  bool
	since      string
	user       string
	bucket     string
	json       bool
	files      []string
}

// runAudit is "cloak audit verify|report|public-key [flags] [FILE...]".
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		auditUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	run := map[string]func(ctx context.Context, a *auditCmd) error{
		"verify": auditVerify, "report": auditReport, "public-key": auditPublicKey,
	}[args[0]]
	if run == nil {
		fmt.Fprintf(stderr, "cloak audit: unknown command %q\n", args[0])
		auditUsage(stderr)
		return 2
	}
	a := &auditCmd{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.publicKeys, "public-key", "", "trusted checkpoint `keys` (base64, comma-separated); "+
		"default: the key in audit.key_file")
	fs.BoolVar(&a.live, "live", false, "accept chains without a final checkpoint (a log still being written)")
	fs.BoolVar(&a.fromStore, "from-backend", false, "read the backend sink's objects in audit.bucket")
	fs.StringVar(&a.since, "since", "", "report records from this `age` (24h) or time (RFC 3339) on")
	fs.StringVar(&a.user, "user", "", "report only this `user`")
	fs.StringVar(&a.bucket, "bucket", "", "report only this `bucket`")
	fs.BoolVar(&a.json, "json", false, "report as JSON")
	cfg, err := config.Load(fs, args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cloak audit %s: %v\n", args[0], err)
		return 2
	}
	a.cfg, a.files = cfg, fs.Args()
	if err := run(context.Background(), a); err != nil {
		fmt.Fprintf(stderr, "cloak audit %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func auditUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cloak audit <command> [flags] [FILE|DIR ...]")
	fmt.Fprintln(w, "       (each command takes the flags of cloak serve too)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  verify      check the chains and checkpoint signatures [--public-key K] [--live]")
	fmt.Fprintln(w, "  report      who accessed what: --since 24h [--user U] [--bucket B] [--json]")
	fmt.Fprintln(w, "  public-key  print the key that verifies this installation's checkpoints")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Without files, the directory of audit.file is read; --from-backend reads audit.bucket.")
}

// sources reads the audit files named, or the configured ones.
func (a *auditCmd) sources(ctx context.Context) ([]audit.Source, error) {
	if a.fromStore {
		if a.cfg.Audit.Bucket == "" {
			return nil, errors.New("--from-backend needs audit.bucket")
		}
		store, err := openStore(a.cfg)
		if err != nil {
			return nil, err
		}
		return audit.ReadObjects(ctx, auditStore{store}, a.cfg.Audit.Bucket, auditPrefix)
	}
	files := a.files
	if len(files) == 0 {
		files = []string{filepath.Dir(a.cfg.AuditFile())}
	}
	return audit.ReadFiles(files)
}

func auditVerify(ctx context.Context, a *auditCmd) error {
	trusted, err := a.trustedKeys()
	if err != nil {
		return err
	}
	srcs, err := a.sources(ctx)
	if err != nil {
		return err
	}
	res := audit.Verify(srcs, audit.VerifyOptions{Trusted: trusted, Live: a.live})
	for _, c := range res.Chains {
		state := "closed"
		if !c.Final {
			state = fmt.Sprintf("open, %d records after the last checkpoint", c.Unproven)
		}
		fmt.Fprintf(a.stdout, "writer %s: records %d to %d, last checkpoint %d, %s\n",
			c.Writer, c.First, c.Last, c.Signed, state)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(a.stdout, "FAIL %s\n", p)
	}
	if !res.OK() {
		return fmt.Errorf("%w: %d problems", audit.ErrBroken, len(res.Problems))
	}
	fmt.Fprintf(a.stdout, "OK: %d sources, %d chains verified\n", len(srcs), len(res.Chains))
	return nil
}

// trustedKeys returns the keys given by --public-key, or the one kept in
// audit.key_file, or none (with a warning from Verify).
func (a *auditCmd) trustedKeys() ([]ed25519.PublicKey, error) {
	if a.publicKeys != "" {
		var out []ed25519.PublicKey
		for _, s := range strings.Split(a.publicKeys, ",") {
			k, err := audit.ParsePublicKey(strings.TrimSpace(s))
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, nil
	}
	pub, err := keys.AuditPublicKey(a.cfg.AuditKeyFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []ed25519.PublicKey{pub}, nil
}

func auditPublicKey(_ context.Context, a *auditCmd) error {
	pub, err := keys.AuditPublicKey(a.cfg.AuditKeyFile())
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, audit.EncodePublicKey(pub))
	return nil
}

func auditReport(ctx context.Context, a *auditCmd) error {
	opts := audit.ReportOptions{User: a.user, Bucket: a.bucket}
	if a.since != "" {
		t, err := parseSince(a.since, time.Now())
		if err != nil {
			return err
		}
		opts.Since = t
	}
	srcs, err := a.sources(ctx)
	if err != nil {
		return err
	}
	rep := audit.Summarise(srcs, opts)
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(a.stdout)
}

// parseSince reads an age ("24h", "7d") or a time (RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--since %q: give an age such as 24h or 7d, or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}
