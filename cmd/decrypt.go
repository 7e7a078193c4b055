package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/keys"
)

// decryptArgs are the flags of "cloak decrypt".
type decryptArgs struct {
	bucket, key, prefix string
	out, outDir         string
	object, metadata    string
	manifest            string
	keyBackup, passFile string
}

// runDecrypt is "cloak decrypt": offline recovery of plaintext, without a
// running proxy, from the store or from a raw object saved to a file.
func runDecrypt(args []string, stdout, stderr io.Writer) int {
	var a decryptArgs
	cfg, _, ctx, stop, err := toolFlags("decrypt", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&a.bucket, "bucket", "", "the object's `bucket` (required: it is bound into the encryption)")
		fs.StringVar(&a.key, "key", "", "the object `key` to decrypt")
		fs.StringVar(&a.prefix, "prefix", "", "decrypt every object under this `prefix` (with --out-dir)")
		fs.StringVar(&a.out, "out", "", "write the plaintext to this `file` (- for standard output)")
		fs.StringVar(&a.outDir, "out-dir", "", "write each object under this `directory` (whole bucket or prefix)")
		fs.StringVar(&a.object, "object", "", "read the raw stored object from this `file` instead of the store")
		fs.StringVar(&a.metadata, "metadata", "", "JSON `file` of the raw object's user metadata "+
			"(a map, or the output of aws s3api head-object)")
		fs.StringVar(&a.manifest, "manifest", "", "raw manifest `file` of a multipart object "+
			"(the store's .cloak/manifests/TOKEN)")
		fs.StringVar(&a.keyBackup, "key-backup", "", "decrypt with the keys of this `file` written by "+
			"cloak keys export, instead of the configured provider")
		fs.StringVar(&a.passFile, "passphrase-file", "", "`file` holding the backup passphrase "+
			"(default: $CLOAK_KEYS_BACKUP_PASSPHRASE)")
	})
	if err != nil {
		return exitCode("decrypt", usageErr(err), stderr)
	}
	defer stop()
	if err := a.check(); err != nil {
		return exitCode("decrypt", err, stderr)
	}
	return exitCode("decrypt", decrypt(ctx, cfg, a, stdout, stderr), stderr)
}

func (a decryptArgs) check() error {
	switch {
	case a.bucket == "":
		return usageError{"--bucket is required"}
	case a.object != "" && (a.key == "" || a.metadata == "" || a.out == ""):
		return usageError{"--object needs --key, --metadata and --out"}
	case a.outDir != "" && (a.key != "" || a.out != ""):
		return usageError{"--out-dir decrypts many objects: use --prefix, not --key or --out"}
	case a.outDir == "" && (a.key == "" || a.out == ""):
		return usageError{"give --key and --out for one object, or --out-dir for a bucket"}
	}
	return nil
}

func decrypt(ctx context.Context, cfg *config.Config, a decryptArgs, stdout, stderr io.Writer) error {
	if a.keyBackup != "" {
		ringPath, cleanup, err := restoreBackup(a.keyBackup, a.passFile)
		if err != nil {
			return err
		}
		defer cleanup()
		cfg.Keys.Provider, cfg.KeyRing, cfg.Keys.Passphrase = "ring", ringPath, ""
	}
	if a.object != "" {
		dir, err := rawObjectStore(ctx, a)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Backend.Type, cfg.Backend.Local.Dir = "local", dir
	}
	t, err := openStoreTool(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer t.close()
	if a.outDir == "" {
		n, err := decryptOne(ctx, t, a.bucket, a.key, a.out, stdout)
		if err == nil && a.out != "-" {
			fmt.Fprintf(stderr, "decrypted %s/%s: %d bytes to %s\n", a.bucket, a.key, n, a.out)
		}
		return err
	}
	return decryptMany(ctx, t, a, stderr)
}

// decryptOne writes the plaintext of bucket/key to out. A file is
// written beside its final name and renamed only once every byte has
// been authenticated, so a damaged object never leaves plaintext that
// looks complete; on standard output a failure after some bytes is
// reported, and the exit status says so.
func decryptOne(ctx context.Context, t *storeTool, bucket, key, out string, stdout io.Writer) (int64, error) {
	rc, info, err := t.srv.OpenPlaintext(ctx, bucket, key)
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	defer rc.Close()
	if info.Plaintext {
		return 0, fmt.Errorf("%s/%s is not encrypted by Cloak", bucket, key)
	}
	if out == "-" {
		n, err := io.Copy(stdout, rc)
		if err != nil {
			return n, fmt.Errorf("%s/%s after %d bytes: %w", bucket, key, n, err)
		}
		return n, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".cloak-decrypt-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, rc)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != info.Size {
		err = fmt.Errorf("got %d of %d bytes", n, info.Size)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return n, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	return n, nil
}

// decryptMany writes every object under a.prefix to a.outDir, keeping
// the key as the relative path. Keys that cannot be a path inside the
// directory (absolute, "..", empty segments) and directory markers are
// skipped and reported.
func decryptMany(ctx context.Context, t *storeTool, a decryptArgs, stderr io.Writer) error {
	var n, failed int
	token := ""
	for range 1_000_000 {
		page, err := t.store.ListObjects(ctx, a.bucket, backend.ListOptions{Prefix: a.prefix, ContinuationToken: token})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if strings.HasPrefix(o.Key, ".cloak/") || strings.HasSuffix(o.Key, "/") {
				continue
			}
			if !filepath.IsLocal(o.Key) || strings.Contains(o.Key, "//") {
				fmt.Fprintf(stderr, "skipped %s: the key is not a safe relative path\n", o.Key)
				failed++
				continue
			}
			if _, err := decryptOne(ctx, t, a.bucket, o.Key, filepath.Join(a.outDir, filepath.FromSlash(o.Key)), nil); err != nil {
				fmt.Fprintf(stderr, "failed: %v\n", err)
				failed++
				continue
			}
			n++
		}
		if !page.IsTruncated || page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	fmt.Fprintf(stderr, "decrypted %d objects of %s into %s, %d failed or skipped\n", n, a.bucket, a.outDir, failed)
	if failed > 0 {
		return fmt.Errorf("%d objects were not decrypted", failed)
	}
	return nil
}

// restoreBackup restores a key ring backup into a private temporary
// directory and returns the ring's path and a function that removes it.
func restoreBackup(path, passFile string) (string, func(), error) {
	k := &keysCmd{passFile: passFile}
	pass, err := k.backupPassphrase()
	if err != nil {
		return "", nil, err
	}
	defer clear(pass)
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "cloak-decrypt-keys-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	ring := filepath.Join(dir, "keyring")
	if _, err := keys.Import(ring, f, pass, keys.Options{}); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("key backup %s: %w", path, err)
	}
	return ring, cleanup, nil
}

// rawObjectStore builds a temporary local store holding the raw object
// (and manifest) that a.object and friends name, as the store held them,
// so the normal read path can decrypt it.
func rawObjectStore(ctx context.Context, a decryptArgs) (string, error) {
	meta, err := readMetadataFile(a.metadata)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "cloak-decrypt-object-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(dir)
		return "", err
	}
	st, err := localstore.New(dir)
	if err != nil {
		return fail(err)
	}
	if err := st.CreateBucket(ctx, a.bucket); err != nil {
		return fail(err)
	}
	if err := putFile(ctx, st, a.bucket, a.key, a.object, meta); err != nil {
		return fail(err)
	}
	if token := meta["cloak-mpu"]; token != "" {
		if a.manifest == "" {
			return fail(fmt.Errorf("%s is a multipart object: give its manifest with --manifest "+
				"(the store's %s/.cloak/manifests/%s)", a.key, a.bucket, token))
		}
		if strings.ContainsAny(token, "/.") {
			return fail(errors.New("the metadata names a malformed manifest"))
		}
		if err := putFile(ctx, st, a.bucket, ".cloak/manifests/"+token, a.manifest, nil); err != nil {
			return fail(err)
		}
	}
	return dir, nil
}

func putFile(ctx context.Context, st backend.Store, bucket, key, path string, meta map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = st.PutObject(ctx, bucket, key, f, fi.Size(), backend.PutOptions{Metadata: meta})
	return err
}

// readMetadataFile reads user metadata as a JSON object of strings, or
// the "Metadata" member of one (aws s3api head-object prints that).
// Names are lower-cased, as the store keeps them.
func readMetadataFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("metadata file %s: %w", path, err)
	}
	if inner, ok := doc["Metadata"]; ok {
		b = inner
	}
	var raw map[string]string
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("metadata file %s: not a map of strings: %w", path, err)
	}
	meta := make(map[string]string, len(raw))
	for k, v := range raw {
		meta[strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-")] = v
	}
	if meta["cloak-env"] == "" {
		return nil, fmt.Errorf("metadata file %s has no cloak-env entry: is it Cloak's?", path)
	}
	return meta, nil
}
