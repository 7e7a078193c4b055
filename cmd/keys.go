package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/bulk"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// stdin is where "cloak keys shred" reads its confirmation; tests
// replace it.
var stdin io.Reader = os.Stdin

// keysCommands are the subcommands of "cloak keys".
var keysCommands = map[string]struct {
	summary string
	run     func(ctx context.Context, k *keysCmd) error
}{
	"list":   {"list master keys; --scan counts the objects under each", keysList},
	"rotate": {"make a new key version active for new writes [--bucket B]", keysRotate},
	"create": {"give a bucket its own master key: --bucket B", keysCreate},
	"rewrap": {"move objects' data keys onto the active version [--bucket B] [--from V]", keysRewrap},
	"retire": {"destroy a key version no object uses: [--id ID] VERSION [--force]", keysRetire},
	"shred":  {"destroy a bucket's own key, making its objects unreadable: --bucket B", keysShred},
	"export": {"write an encrypted backup of the key ring: --out FILE", keysExport},
	"import": {"restore a key ring backup: --in FILE", keysImport},
}

// keysCmd is one run of a "cloak keys" subcommand: its configuration,
// its own flags and its output streams.
type keysCmd struct {
	name           string
	cfg            *config.Config
	stdout, stderr io.Writer

	bucket   string
	from     uint
	id       string
	jobs     int
	state    string
	force    bool
	scan     bool
	json     bool
	confirm  string
	file     string
	passFile string
	args     []string

	// act is what the subcommand did, for the audit record.
	act audit.Record
}

// auditedKeys are the subcommands recorded in the audit log: every one
// that changes keys.
var auditedKeys = map[string]bool{
	"rotate": true, "create": true, "rewrap": true, "retire": true, "shred": true, "import": true,
}

// runKeys is "cloak keys SUBCOMMAND [flags]".
func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		keysUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, ok := keysCommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cloak keys: unknown command %q\n", args[0])
		keysUsage(stderr)
		return 2
	}
	k := &keysCmd{name: args[0], stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("keys "+k.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	k.flags(fs)
	cfg, err := config.Load(fs, args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cloak keys %s: %v\n", k.name, err)
		return 2
	}
	k.cfg, k.args = cfg, fs.Args()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = sub.run(ctx, k)
	if err != nil {
		fmt.Fprintf(stderr, "cloak keys %s: %v\n", k.name, err)
	}
	if auditedKeys[k.name] {
		if aerr := k.record(ctx, err); aerr != nil {
			fmt.Fprintf(stderr, "cloak keys %s: the act was not recorded in the audit log: %v\n", k.name, aerr)
			return 1
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// record writes the audit record of the act, failed or not.
func (k *keysCmd) record(ctx context.Context, failure error) error {
	rec := k.act
	rec.Action = "keys " + k.name
	if rec.Bucket == "" {
		rec.Bucket = k.bucket
	}
	if failure != nil {
		rec.Code = "Failed"
		rec.Detail = strings.TrimSpace(rec.Detail + " failed: " + failure.Error())
	}
	return auditAdmin(context.WithoutCancel(ctx), k.cfg, nil, rec)
}

func keysUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cloak keys <command> [flags]   (each takes the flags of cloak serve too)")
	fmt.Fprintln(w)
	names := make([]string, 0, len(keysCommands))
	for n := range keysCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-7s %s\n", n, keysCommands[n].summary)
	}
}

// flags registers the flags of k's subcommand.
func (k *keysCmd) flags(fs *flag.FlagSet) {
	switch k.name {
	case "list":
		fs.BoolVar(&k.scan, "scan", false, "count the objects and uploads under each key (reads every bucket's listing)")
		fs.BoolVar(&k.json, "json", false, "print JSON")
		fs.StringVar(&k.bucket, "bucket", "", "scan only this `bucket`")
	case "rotate":
		fs.StringVar(&k.bucket, "bucket", "", "rotate the key this `bucket` uses (default: the default key)")
	case "create", "shred":
		fs.StringVar(&k.bucket, "bucket", "", "the `bucket`")
		if k.name == "shred" {
			fs.StringVar(&k.confirm, "confirm", "", "the bucket name again, instead of typing it when asked")
		}
	case "rewrap":
		fs.StringVar(&k.bucket, "bucket", "", "rewrap only this `bucket` (default: every bucket)")
		fs.UintVar(&k.from, "from", 0, "rewrap only objects under this key `version`")
		fs.IntVar(&k.jobs, "jobs", 8, "objects rewrapped at once")
		fs.StringVar(&k.state, "state", "", "resume `file` (default <data>/rewrap.state)")
	case "retire":
		fs.StringVar(&k.id, "id", "", "key `id` (default: the default key)")
		fs.BoolVar(&k.force, "force", false, "retire even if the scan finds objects under the version")
		fs.StringVar(&k.bucket, "bucket", "", "scan only this `bucket` (with --force only)")
	case "export":
		fs.StringVar(&k.file, "out", "", "backup `file` to write")
		fs.StringVar(&k.passFile, "passphrase-file", "", "`file` holding the backup passphrase "+
			"(default: $CLOAK_KEYS_BACKUP_PASSPHRASE)")
	case "import":
		fs.StringVar(&k.file, "in", "", "backup `file` to read")
		fs.StringVar(&k.passFile, "passphrase-file", "", "`file` holding the backup passphrase "+
			"(default: $CLOAK_KEYS_BACKUP_PASSPHRASE)")
	}
}

// provider opens the configured key provider without creating anything.
func (k *keysCmd) provider(ctx context.Context) (keyProvider, error) {
	p, _, err := openProvider(ctx, k.cfg, false)
	return p, err
}

// objects opens the configured store and a Server over it for key work.
func (k *keysCmd) objects(p keyProvider) (backend.Store, *proxy.Server, error) {
	store, err := openStore(k.cfg)
	if err != nil {
		return nil, nil, err
	}
	srv, err := proxy.New(proxy.Options{Store: store, Keys: p, Credentials: sigv4.StaticCredentials{},
		Migrating: k.cfg.IsMigrating})
	return store, srv, err
}

// buckets returns the named bucket, or every bucket of the store.
// The backend audit sink's bucket holds no encrypted objects and is left
// out.
func (k *keysCmd) buckets(ctx context.Context, store backend.Store) ([]string, error) {
	names, err := bucketList(ctx, store, k.bucket)
	skip := auditBuckets(k.cfg)
	return slices.DeleteFunc(names, func(b string) bool { return slices.Contains(skip, b) }), err
}

// progress returns where bulk runs draw progress, and whether it is a
// terminal.
func (k *keysCmd) progress() (io.Writer, bool) { return progressOutput(k.stderr) }

func keysList(ctx context.Context, k *keysCmd) error {
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	rows, err := p.list(ctx)
	if err != nil {
		return err
	}
	var usage *keyUsage
	if k.scan {
		if usage, err = k.scanUsage(ctx, p); err != nil {
			return err
		}
	}
	if k.json {
		return printRowsJSON(k.stdout, rows, usage)
	}
	tw := tabwriter.NewWriter(k.stdout, 0, 4, 2, ' ', 0)
	header := "ID\tVERSION\tSTATE\tCREATED\tBUCKETS"
	if usage != nil {
		header += "\tOBJECTS\tUPLOADS"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		created := "-"
		if r.Created != nil {
			created = r.Created.Format(time.RFC3339)
		}
		buckets := strings.Join(r.Buckets, ",")
		if buckets == "" {
			buckets = "(default)"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", r.ID, versionText(r.Version), r.State, created, buckets)
		if usage != nil {
			ref := proxy.KeyRef{ID: r.ID, Version: r.Version}
			line += fmt.Sprintf("\t%d\t%d", usage.objects[ref], usage.uploads[ref])
		}
		fmt.Fprintln(tw, line)
	}
	if usage != nil {
		for _, ref := range usage.unlisted(rows) {
			fmt.Fprintf(tw, "%s\t%s\t(not in the provider)\t-\t-\t%d\t%d\n", ref.ID,
				versionText(ref.Version), usage.objects[ref], usage.uploads[ref])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if usage != nil {
		fmt.Fprintf(k.stdout, "%d objects scanned, %d in plaintext, %d unreadable envelopes\n",
			usage.scanned, usage.plaintext, usage.damaged)
	}
	return nil
}

func versionText(v uint32) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(v), 10)
}

func printRowsJSON(w io.Writer, rows []keyRow, usage *keyUsage) error {
	type row struct {
		keyRow
		Objects *int `json:"objects,omitempty"`
		Uploads *int `json:"uploads,omitempty"`
	}
	out := make([]row, len(rows))
	for i, r := range rows {
		out[i].keyRow = r
		if usage != nil {
			ref := proxy.KeyRef{ID: r.ID, Version: r.Version}
			o, u := usage.objects[ref], usage.uploads[ref]
			out[i].Objects, out[i].Uploads = &o, &u
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// keyUsage counts objects and uploads in progress by master key.
type keyUsage struct {
	objects, uploads            map[proxy.KeyRef]int
	scanned, plaintext, damaged int
}

// unlisted returns the keys found in the store that rows do not show.
func (u *keyUsage) unlisted(rows []keyRow) []proxy.KeyRef {
	listed := map[proxy.KeyRef]bool{}
	for _, r := range rows {
		listed[proxy.KeyRef{ID: r.ID, Version: r.Version}] = true
	}
	var out []proxy.KeyRef
	for ref := range u.objects {
		if !listed[ref] {
			out = append(out, ref)
		}
	}
	for ref := range u.uploads {
		if !listed[ref] && u.objects[ref] == 0 {
			out = append(out, ref)
		}
	}
	slices.SortFunc(out, func(a, b proxy.KeyRef) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return int(a.Version) - int(b.Version)
	})
	return out
}

// scanUsage lists the buckets (k.bucket, or all) with metadata and
// counts the master key of every object and upload in progress.
func (k *keysCmd) scanUsage(ctx context.Context, p keyProvider) (*keyUsage, error) {
	store, srv, err := k.objects(p)
	if err != nil {
		return nil, err
	}
	buckets, err := k.buckets(ctx, store)
	if err != nil {
		return nil, err
	}
	u := &keyUsage{objects: map[proxy.KeyRef]int{}, uploads: map[proxy.KeyRef]int{}}
	for _, b := range buckets {
		if err := srv.UploadKeys(ctx, b, func(ref proxy.KeyRef) { u.uploads[ref]++ }); err != nil {
			return nil, fmt.Errorf("uploads of %s: %w", b, err)
		}
	}
	out, term := k.progress()
	sum, err := bulk.Run(ctx, bulk.Options{Op: "scan", Store: store, Buckets: buckets, Jobs: 1,
		WithMetadata: true, Progress: out, Terminal: term},
		func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
			meta := obj.Metadata
			if meta == nil {
				head, err := store.HeadObject(ctx, bucket, obj.Key)
				if err != nil {
					return false, err
				}
				meta = head.Metadata
			}
			ref, _, ok, err := proxy.StoredKey(meta)
			u.scanned++
			switch {
			case err != nil:
				u.damaged++
			case !ok:
				u.plaintext++
			default:
				u.objects[ref]++
			}
			return false, nil
		})
	if err != nil {
		return nil, err
	}
	if sum.Failed > 0 {
		return nil, fmt.Errorf("scan: %d objects could not be read (first: %s/%s: %s)",
			sum.Failed, sum.Failures[0].Bucket, sum.Failures[0].Key, sum.Failures[0].Err)
	}
	return u, nil
}

func keysRotate(ctx context.Context, k *keysCmd) error {
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	r, err := p.rotate(ctx, k.bucket)
	if err != nil {
		return err
	}
	k.act.KeyID, k.act.KeyVersion = r.ID, r.Version
	fmt.Fprintf(k.stdout, "%s version %d is now active for new writes%s.\n", r.ID, r.Version, forBucket(k.bucket))
	fmt.Fprintf(k.stdout, "Running servers sharing this %s switch within %s (keys.reload_interval).\n"+
		"Existing objects stay under their versions until 'cloak keys rewrap'.\n",
		providerNoun(p), time.Duration(k.cfg.Keys.ReloadInterval))
	return nil
}

func forBucket(bucket string) string {
	if bucket == "" {
		return ""
	}
	return " in bucket " + bucket
}

func providerNoun(p keyProvider) string {
	switch p.kind() {
	case "pkcs11":
		return "token"
	case "awskms":
		return "KMS"
	}
	return "key ring file"
}

func keysCreate(ctx context.Context, k *keysCmd) error {
	if k.bucket == "" {
		return errors.New("--bucket is required")
	}
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	r, err := p.createBucketKey(ctx, k.bucket)
	if err != nil {
		return err
	}
	k.act.KeyID, k.act.KeyVersion = r.ID, r.Version
	fmt.Fprintf(k.stdout, "Bucket %s now has its own key %s (version %d) for new writes.\n"+
		"Objects already in it keep their key until 'cloak keys rewrap --bucket %s'.\n",
		k.bucket, r.ID, r.Version, k.bucket)
	return nil
}

func keysRewrap(ctx context.Context, k *keysCmd) error {
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	store, srv, err := k.objects(p)
	if err != nil {
		return err
	}
	buckets, err := k.buckets(ctx, store)
	if err != nil {
		return err
	}
	state := k.state
	if state == "" {
		state = filepath.Join(k.cfg.Data, "rewrap.state")
		if err := os.MkdirAll(k.cfg.Data, 0o700); err != nil {
			return err
		}
	}
	out, term := k.progress()
	sum, err := bulk.Run(ctx, bulk.Options{Op: "rewrap", Store: store, Buckets: buckets,
		Jobs: k.jobs, WithMetadata: true, State: state, Progress: out, Terminal: term, Count: true},
		func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
			id, v, err := p.Active(ctx, bucket)
			if err != nil {
				return false, err
			}
			return srv.Rewrap(ctx, bucket, obj, proxy.RewrapOptions{
				Target: proxy.KeyRef{ID: id, Version: v}, FromVersion: uint32(k.from)})
		})
	fmt.Fprintf(k.stdout, "rewrap %s\n", sum)
	k.act.Detail = "rewrap " + sum.String()
	if k.from != 0 {
		k.act.Detail += fmt.Sprintf(" (from version %d)", k.from)
	}
	printFailures(k.stdout, sum)
	if err != nil {
		if !sum.Complete {
			fmt.Fprintf(k.stdout, "Run the same command again to resume (state in %s).\n", state)
		}
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d objects were not rewrapped", sum.Failed)
	}
	return nil
}

func printFailures(w io.Writer, sum bulk.Summary) {
	for _, f := range sum.Failures {
		fmt.Fprintf(w, "  failed: %s/%s: %s\n", f.Bucket, f.Key, f.Err)
	}
	if n := sum.Failed - int64(len(sum.Failures)); n > 0 {
		fmt.Fprintf(w, "  and %d more failures\n", n)
	}
}

func keysRetire(ctx context.Context, k *keysCmd) error {
	kms := k.cfg.Keys.Provider == "awskms"
	var v uint64
	switch {
	case len(k.args) == 0 && kms:
		// KMS keys have no versions that Cloak sees: --id names the key.
	case len(k.args) == 1:
		var err error
		v, err = strconv.ParseUint(k.args[0], 10, 32)
		if err != nil || (v == 0 && !kms) {
			return fmt.Errorf("%q is not a key version number", k.args[0])
		}
	default:
		return errors.New("give the version to retire: cloak keys retire [--id ID] VERSION")
	}
	if k.bucket != "" && !k.force {
		return errors.New("--bucket limits the scan, which is only safe with --force")
	}
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	id := k.id
	if id == "" {
		id = p.defaultID()
	}
	ref := proxy.KeyRef{ID: id, Version: uint32(v)}
	k.act.KeyID, k.act.KeyVersion = id, uint32(v)
	usage, err := k.scanUsage(ctx, p)
	if err != nil {
		return fmt.Errorf("scan before retiring: %w", err)
	}
	inUse := usage.objects[ref] + usage.uploads[ref]
	if inUse > 0 && !k.force {
		return fmt.Errorf("%s version %d still wraps %d objects and %d uploads in progress: "+
			"run 'cloak keys rewrap' (and finish or abort the uploads) first, or retire with --force "+
			"to make them unreadable", id, v, usage.objects[ref], usage.uploads[ref])
	}
	if usage.damaged > 0 && !k.force {
		return fmt.Errorf("%d objects have envelopes that cannot be read, so the scan cannot "+
			"prove the version unused; retire with --force to go ahead", usage.damaged)
	}
	if inUse > 0 {
		k.act.Detail = fmt.Sprintf("forced: %d objects and uploads made unreadable", inUse)
	}
	if err := p.retire(ctx, id, uint32(v)); err != nil {
		return err
	}
	fmt.Fprintf(k.stdout, "%s version %d is retired: its key material is destroyed.", id, v)
	if inUse > 0 {
		fmt.Fprintf(k.stdout, " %d objects and uploads under it are now unreadable.", inUse)
	}
	fmt.Fprintln(k.stdout)
	return nil
}

func keysShred(ctx context.Context, k *keysCmd) error {
	if k.bucket == "" {
		return errors.New("--bucket is required")
	}
	confirm := k.confirm
	if confirm == "" {
		fmt.Fprintf(k.stderr, "This destroys the master key of bucket %s: every object in it becomes\n"+
			"permanently unreadable. Backups of the key store are not reached (see docs/KEYS.md).\n"+
			"Type the bucket name to confirm: ", k.bucket)
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no confirmation given; nothing was destroyed")
		}
		confirm = strings.TrimSpace(line)
	}
	if confirm != k.bucket {
		return errors.New("the confirmation does not match the bucket name; nothing was destroyed")
	}
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	rows, err := p.shred(ctx, k.bucket)
	var destroyed []string
	for _, r := range rows {
		fmt.Fprintf(k.stdout, "destroyed %s version %s (%s)\n", r.ID, versionText(r.Version), r.State)
		destroyed = append(destroyed, r.ID+" version "+versionText(r.Version))
		k.act.KeyID = r.ID
	}
	k.act.Detail = "destroyed " + strings.Join(destroyed, ", ")
	if err != nil {
		return err
	}
	fmt.Fprintf(k.stdout, "Bucket %s is crypto-shredded. Running servers stop opening its objects "+
		"within %s.\n", k.bucket, time.Duration(k.cfg.Keys.ReloadInterval))
	return nil
}

// backupPassphrase reads the backup passphrase from --passphrase-file or
// CLOAK_KEYS_BACKUP_PASSPHRASE.
func (k *keysCmd) backupPassphrase() ([]byte, error) {
	if k.passFile != "" {
		b, err := os.ReadFile(k.passFile)
		if err != nil {
			return nil, err
		}
		pass := []byte(strings.TrimRight(string(b), "\r\n"))
		clear(b)
		if len(pass) == 0 {
			return nil, errors.New("the passphrase file is empty")
		}
		return pass, nil
	}
	if v := os.Getenv("CLOAK_KEYS_BACKUP_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	return nil, errors.New("a backup passphrase is required: --passphrase-file FILE or " +
		"CLOAK_KEYS_BACKUP_PASSPHRASE")
}

func keysExport(ctx context.Context, k *keysCmd) error {
	if k.cfg.Keys.Provider != "ring" {
		return fmt.Errorf("the %s provider keeps its keys itself; back them up with its own tools "+
			"(docs/KEYS.md)", k.cfg.Keys.Provider)
	}
	if k.file == "" {
		return errors.New("--out is required")
	}
	pass, err := k.backupPassphrase()
	if err != nil {
		return err
	}
	defer clear(pass)
	p, err := k.provider(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	ring := p.(ringProvider).Ring
	f, err := os.OpenFile(k.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := ring.Export(f, pass); err != nil {
		f.Close()
		os.Remove(k.file)
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	fmt.Fprintf(k.stdout, "Wrote a backup of %s to %s, sealed with the backup passphrase.\n"+
		"Keep the file and the passphrase in different places.\n", k.cfg.KeyRing, k.file)
	return nil
}

func keysImport(_ context.Context, k *keysCmd) error {
	if k.cfg.Keys.Provider != "ring" {
		return fmt.Errorf("the %s provider keeps its keys itself", k.cfg.Keys.Provider)
	}
	if k.file == "" {
		return errors.New("--in is required")
	}
	pass, err := k.backupPassphrase()
	if err != nil {
		return err
	}
	defer clear(pass)
	f, err := os.Open(k.file)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := keys.Import(k.cfg.KeyRing, f, pass, keys.Options{Passphrase: []byte(k.cfg.Keys.Passphrase.Reveal())})
	if err != nil {
		return err
	}
	k.act.Detail = fmt.Sprintf("from %s: %d key versions added", k.file, res.Added)
	if res.Created {
		k.act.Detail = "restored the key ring from " + k.file
		fmt.Fprintf(k.stdout, "Restored the key ring %s from %s.\n", k.cfg.KeyRing, k.file)
	} else {
		fmt.Fprintf(k.stdout, "Added %d key versions from %s to %s.\n", res.Added, k.file, k.cfg.KeyRing)
	}
	return nil
}
