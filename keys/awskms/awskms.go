// Package awskms wraps Cloak's data keys with AWS KMS.
//
// A [Wrapper] is a [crypto.KeyWrapper]: Wrap sends the 256-bit data key
// of an object to KMS Encrypt under the bucket's KMS key, and Unwrap
// sends the ciphertext back to KMS Decrypt. The master keys never leave
// KMS. [Wrapper.GenerateDataKey] asks KMS for a fresh data key and its
// wrapped form in one call, and [Wrapper.Check] validates the configured
// keys at startup.
//
// # Encryption context
//
// Every call binds the object in a KMS encryption context: the bucket,
// the object key, whether the object is a multipart upload, and the
// version of this layout (see [ContextKey] and the constants beside it).
// A wrapped key copied onto another object, bucket or upload kind does
// not decrypt. Object keys longer than 512 bytes, and names that are not
// valid UTF-8, are bound by the SHA-256 of [crypto.WrapContext.AAD]
// instead of by name. The context is not secret: KMS records it in
// CloudTrail, so bucket and object names appear there.
//
// # Key ids and rotation
//
// [crypto.WrappedKey.KeyID] is the ARN of the KMS key that KMS reports,
// and KeyVersion is always 0: KMS versions a key's material internally
// and its ciphertexts name the material that made them. Rotating a KMS
// master key therefore means either KMS automatic (or on-demand) rotation
// of the same key, which needs nothing from Cloak, or pointing
// [Config.KeyID] or a [Config.BucketKeys] entry at another key: new
// objects use the new key, and old objects keep decrypting under the key
// their ARN names for as long as it stays enabled.
//
// # Errors
//
// A ciphertext that does not open under its context or key gives an error
// wrapping [crypto.ErrAuthentication]; a key that does not exist,
// [crypto.ErrUnknownKey]; a disabled key, [ErrKeyDisabled]; a key pending
// deletion or otherwise unusable, [ErrKeyUnusable]. Error texts name the
// operation, the key id and the KMS error code; they never hold key
// material, plaintext, the secret access key or the session token. The
// package does not log.
package awskms

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cloakproxy/cloak/crypto"
)

// Sizes and defaults.
const (
	// dataKeySize is the size of a Cloak data key (AES-256).
	dataKeySize = 32
	// maxKeyIDLen is the longest key id a Cloak envelope can hold.
	maxKeyIDLen = 255
	// DefaultTimeout bounds one KMS operation, retries included, when
	// Config.Timeout is zero.
	DefaultTimeout = 10 * time.Second
)

// Config configures a [Wrapper]. The zero value of each optional field
// selects AWS's usual behaviour.
type Config struct {
	// Endpoint is the KMS endpoint URL: a VPC endpoint, a regional one
	// such as "https://kms.eu-west-1.amazonaws.com", or a local KMS like
	// "http://127.0.0.1:8080". Empty resolves the AWS endpoint of Region
	// (honouring AWS_ENDPOINT_URL_KMS and AWS_USE_FIPS_ENDPOINT as the SDK
	// does).
	Endpoint string
	// Region is the AWS region of the keys, e.g. "eu-west-1". Empty takes
	// it from the environment (AWS_REGION) or the shared AWS config file;
	// New fails when none is found.
	Region string
	// AccessKey and SecretKey are static credentials of the IAM principal
	// that uses the keys. Both empty use the SDK's default chain:
	// environment, shared files, web identity, container and instance
	// roles. SecretKey is never put in an error; String and LogValue
	// redact it.
	AccessKey string
	SecretKey string
	// SessionToken goes with temporary static credentials; optional.
	SessionToken string
	// KeyID is the default KMS key: a key id, key ARN, alias name
	// ("alias/cloak") or alias ARN. New objects in buckets that
	// BucketKeys does not name are wrapped under it. It may be empty
	// only when BucketKeys is not; writes to other buckets then fail.
	KeyID string
	// BucketKeys maps bucket names to the KMS key (same forms as KeyID)
	// that wraps new objects in that bucket, so that one client matter
	// can be isolated under a key with its own policy, audit trail and
	// deletion schedule. Reads need no entry: a wrapped key names its KMS
	// key.
	BucketKeys map[string]string
	// CAFile names a PEM bundle of extra CAs to trust for an https
	// Endpoint, added to the system pool. It takes the place of
	// AWS_CA_BUNDLE.
	CAFile string
	// Timeout bounds each operation (Wrap, Unwrap, GenerateDataKey, each
	// key of Check), retries included. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a KMS call that fails with a
	// retryable error (throttling, 5xx, network). 0 means the SDK's
	// default of 3.
	MaxAttempts int
}

// String describes c for logs and errors, with the secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("awskms.Config{Endpoint:%q Region:%q AccessKey:%q SecretKey:%s "+
		"SessionToken:%s KeyID:%q BucketKeys:%v CAFile:%q Timeout:%v MaxAttempts:%d}",
		c.Endpoint, c.Region, c.AccessKey, redacted(c.SecretKey), redacted(c.SessionToken),
		c.KeyID, c.BucketKeys, c.CAFile, c.Timeout, c.MaxAttempts)
}

// GoString is String, so that %#v redacts as well.
func (c Config) GoString() string { return c.String() }

// LogValue implements [slog.LogValuer] with the secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("region", c.Region),
		slog.String("access_key", c.AccessKey),
		slog.String("secret_key", redacted(c.SecretKey)),
		slog.String("session_token", redacted(c.SessionToken)),
		slog.String("key_id", c.KeyID),
		slog.Any("bucket_keys", c.BucketKeys),
		slog.String("ca_file", c.CAFile),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_attempts", c.MaxAttempts),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Wrapper wraps data keys with AWS KMS. It implements
// [crypto.KeyWrapper] and is safe for concurrent use.
type Wrapper struct {
	client     *kms.Client
	defaultKey string
	bucketKeys map[string]string
	timeout    time.Duration

	arnMu sync.Mutex
	arns  map[string]resolvedARN // configured key id -> its ARN
}

// resolvedARN is a configured key id resolved by DescribeKey.
type resolvedARN struct {
	arn string
	at  time.Time
}

// arnTTL is how long Active trusts a resolved ARN: an alias pointed at
// another key is followed within it.
const arnTTL = time.Minute

var _ crypto.KeyWrapper = (*Wrapper)(nil)

// New checks cfg and returns a Wrapper. It resolves the region and the
// credentials (which, for the default chain, may read files or the
// instance metadata service, within ctx), but calls no KMS operation:
// use [Wrapper.Check] to validate the keys.
func New(ctx context.Context, cfg Config) (*Wrapper, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	opts := []func(*awsconfig.LoadOptions) error{}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey,
				cfg.SessionToken)))
	}
	if cfg.MaxAttempts > 0 {
		opts = append(opts, awsconfig.WithRetryMaxAttempts(cfg.MaxAttempts))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awskms: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("awskms: no region: set Region or AWS_REGION")
	}
	if cfg.CAFile != "" {
		client, err := httpClientWithCA(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		awsCfg.HTTPClient = client
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Wrapper{
		client:     client,
		defaultKey: cfg.KeyID,
		bucketKeys: maps.Clone(cfg.BucketKeys),
		timeout:    timeout,
	}, nil
}

// validate checks the fields of cfg that New can check without AWS.
func validate(cfg Config) error {
	if cfg.KeyID == "" && len(cfg.BucketKeys) == 0 {
		return errors.New("awskms: no KMS key: set KeyID or BucketKeys")
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return errors.New("awskms: set both AccessKey and SecretKey, or neither")
	}
	if cfg.SessionToken != "" && cfg.AccessKey == "" {
		return errors.New("awskms: SessionToken needs AccessKey and SecretKey")
	}
	for bucket, id := range cfg.BucketKeys {
		if bucket == "" || id == "" {
			return fmt.Errorf("awskms: bucket key %q=%q: bucket and key id must be set",
				bucket, id)
		}
	}
	if cfg.Timeout < 0 || cfg.MaxAttempts < 0 {
		return errors.New("awskms: Timeout and MaxAttempts must not be negative")
	}
	return nil
}

// httpClientWithCA returns the SDK's HTTP client trusting the system CAs
// and those in the PEM file caFile.
func httpClientWithCA(caFile string) (*awshttp.BuildableClient, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("awskms: read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("awskms: CA bundle %s holds no PEM certificate", caFile)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}), nil
}

// keyFor returns the KMS key that wraps new data keys of bucket.
func (w *Wrapper) keyFor(bucket string) (string, error) {
	if id := w.bucketKeys[bucket]; id != "" {
		return id, nil
	}
	if w.defaultKey == "" {
		return "", fmt.Errorf("no KMS key for bucket %q and no default key: %w", bucket,
			crypto.ErrUnknownKey)
	}
	return w.defaultKey, nil
}

// Wrap implements [crypto.KeyWrapper]: KMS Encrypt of the 32-byte
// dataKey under the bucket's KMS key, bound to wc by the encryption
// context. The result names the key by the ARN KMS reports, version 0.
func (w *Wrapper) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (
	crypto.WrappedKey, error) {
	if len(dataKey) != dataKeySize {
		return crypto.WrappedKey{}, fmt.Errorf("wrap: data key is %d bytes, want %d",
			len(dataKey), dataKeySize)
	}
	keyID, err := w.keyFor(wc.Bucket)
	if err != nil {
		return crypto.WrappedKey{}, fmt.Errorf("wrap: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(keyID),
		Plaintext:         dataKey,
		EncryptionContext: encryptionContext(wc),
	})
	if err != nil {
		return crypto.WrappedKey{}, fmt.Errorf("wrap: %w", w.fail(ctx, "Encrypt", keyID, err))
	}
	return wrappedKey("wrap", keyID, out.KeyId, out.CiphertextBlob)
}

// wrappedKey checks what KMS returned for a wrap and builds the result.
func wrappedKey(op, keyID string, arn *string, blob []byte) (crypto.WrappedKey, error) {
	id := aws.ToString(arn)
	if id == "" || len(id) > maxKeyIDLen || len(blob) == 0 {
		return crypto.WrappedKey{}, fmt.Errorf("%s: kms key %q: response has no usable key "+
			"ARN (1..%d bytes) or ciphertext", op, keyID, maxKeyIDLen)
	}
	return crypto.WrappedKey{KeyID: id, KeyVersion: 0, Ciphertext: blob}, nil
}

// Unwrap implements [crypto.KeyWrapper]: KMS Decrypt of wk.Ciphertext
// under the key wk.KeyID names, with the encryption context of wc. The
// caller clears the returned 32-byte key when done with it. A wrapped key
// with a version other than 0 was not made by a Wrapper and gives
// [crypto.ErrUnknownKey] without a call to KMS.
func (w *Wrapper) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) (
	[]byte, error) {
	if wk.KeyID == "" || wk.KeyVersion != 0 {
		return nil, fmt.Errorf("unwrap: key %q version %d is not a KMS key: %w", wk.KeyID,
			wk.KeyVersion, crypto.ErrUnknownKey)
	}
	if len(wk.Ciphertext) == 0 {
		return nil, fmt.Errorf("unwrap: kms key %q: empty ciphertext: %w", wk.KeyID,
			crypto.ErrAuthentication)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.Decrypt(ctx, &kms.DecryptInput{
		KeyId:             aws.String(wk.KeyID),
		CiphertextBlob:    wk.Ciphertext,
		EncryptionContext: encryptionContext(wc),
	})
	if err != nil {
		return nil, fmt.Errorf("unwrap: %w", w.fail(ctx, "Decrypt", wk.KeyID, err))
	}
	if len(out.Plaintext) != dataKeySize {
		clear(out.Plaintext)
		return nil, fmt.Errorf("unwrap: kms key %q: plaintext is not a data key: %w",
			wk.KeyID, crypto.ErrAuthentication)
	}
	return out.Plaintext, nil
}

// GenerateDataKey asks KMS for a fresh 256-bit data key (GenerateDataKey
// with AES_256) under the bucket's KMS key, bound to wc like Wrap. It
// returns the key in the clear, which the caller clears when done, and
// its wrapped form, which Unwrap opens. The key crosses the network once
// more than with Wrap, inside TLS; copies the SDK made while decoding the
// response are not cleared.
func (w *Wrapper) GenerateDataKey(ctx context.Context, wc crypto.WrapContext) (
	[]byte, crypto.WrappedKey, error) {
	keyID, err := w.keyFor(wc.Bucket)
	if err != nil {
		return nil, crypto.WrappedKey{}, fmt.Errorf("generate data key: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext(wc),
	})
	if err != nil {
		return nil, crypto.WrappedKey{}, fmt.Errorf("generate data key: %w",
			w.fail(ctx, "GenerateDataKey", keyID, err))
	}
	if len(out.Plaintext) != dataKeySize {
		clear(out.Plaintext)
		return nil, crypto.WrappedKey{}, fmt.Errorf("generate data key: kms key %q: "+
			"returned %d bytes, want %d", keyID, len(out.Plaintext), dataKeySize)
	}
	wk, err := wrappedKey("generate data key", keyID, out.KeyId, out.CiphertextBlob)
	if err != nil {
		clear(out.Plaintext)
		return nil, crypto.WrappedKey{}, err
	}
	return out.Plaintext, wk, nil
}

// Check describes every configured KMS key (KMS DescribeKey) and reports
// each one that is missing, not enabled, or not a symmetric encryption
// key, by its id and the buckets that use it. It returns nil when all
// keys can wrap, else the problems joined (errors.Join), each wrapping
// [crypto.ErrUnknownKey], [ErrKeyDisabled] or [ErrKeyUnusable] where one
// applies. Check does not prove that the principal may call Encrypt or
// Decrypt: DescribeKey is a separate permission.
func (w *Wrapper) Check(ctx context.Context) error {
	var errs []error
	for _, k := range w.configuredKeys() {
		if err := w.checkKey(ctx, k.id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.use, err))
		}
	}
	return errors.Join(errs...)
}

// keyUse is one configured KMS key id and a description of its use.
type keyUse struct {
	id, use string
}

// configuredKeys lists the distinct configured key ids, sorted, each with
// the uses that name it ("default key", "key of bucket X").
func (w *Wrapper) configuredKeys() []keyUse {
	uses := map[string][]string{}
	if w.defaultKey != "" {
		uses[w.defaultKey] = append(uses[w.defaultKey], "default key")
	}
	for _, bucket := range slices.Sorted(maps.Keys(w.bucketKeys)) {
		id := w.bucketKeys[bucket]
		uses[id] = append(uses[id], fmt.Sprintf("key of bucket %q", bucket))
	}
	var out []keyUse
	for _, id := range slices.Sorted(maps.Keys(uses)) {
		use := fmt.Sprintf("kms key %q (%s)", id, strings.Join(uses[id], ", "))
		out = append(out, keyUse{id: id, use: use})
	}
	return out
}

// checkKey describes one key and reports why it cannot wrap, if it
// cannot.
func (w *Wrapper) checkKey(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return callError("DescribeKey", id, err, "")
	}
	md := out.KeyMetadata
	if md == nil {
		return errors.New("DescribeKey returned no key metadata")
	}
	switch md.KeyState {
	case types.KeyStateEnabled:
	case types.KeyStateDisabled:
		return ErrKeyDisabled
	default:
		return fmt.Errorf("key state %s: %w", md.KeyState, ErrKeyUnusable)
	}
	if md.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
		(md.KeySpec != "" && md.KeySpec != types.KeySpecSymmetricDefault) {
		return fmt.Errorf("key usage %s, spec %s: not a symmetric encryption key "+
			"(SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT): %w", md.KeyUsage, md.KeySpec, ErrKeyUnusable)
	}
	return nil
}

// Active returns the ARN of the KMS key that Wrap uses now for new
// objects in bucket (version 0: KMS versions key material internally),
// resolving a configured alias or key id with DescribeKey and caching the
// answer for a minute. A rewrap moves objects whose wrapped key names
// another ARN onto this one.
func (w *Wrapper) Active(ctx context.Context, bucket string) (string, uint32, error) {
	id, err := w.keyFor(bucket)
	if err != nil {
		return "", 0, fmt.Errorf("active key: %w", err)
	}
	w.arnMu.Lock()
	r, ok := w.arns[id]
	w.arnMu.Unlock()
	if ok && time.Since(r.at) < arnTTL {
		return r.arn, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return "", 0, fmt.Errorf("active key: %w", w.fail(ctx, "DescribeKey", id, err))
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", 0, fmt.Errorf("active key: DescribeKey of %q returned no ARN", id)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	w.arnMu.Lock()
	if w.arns == nil {
		w.arns = make(map[string]resolvedARN)
	}
	w.arns[id] = resolvedARN{arn: arn, at: time.Now()}
	w.arnMu.Unlock()
	return arn, 0, nil
}

// PendingDeletionDays is the waiting period Shred asks KMS for: the
// shortest KMS allows.
const PendingDeletionDays = 7

// Shred crypto-shreds bucket's own KMS key: it disables the key at once
// (every Decrypt under it fails from then on, so the bucket's objects are
// unreadable) and schedules its deletion after [PendingDeletionDays]. It
// returns the key's ARN. Until the waiting period ends, a KMS
// administrator can still cancel the deletion and re-enable the key:
// the shred is final only then. A bucket without a key of its own in
// Config.BucketKeys, or whose key is also the default key or another
// bucket's, is refused, since shredding it would destroy other data.
func (w *Wrapper) Shred(ctx context.Context, bucket string) (string, error) {
	id := w.bucketKeys[bucket]
	if id == "" {
		return "", fmt.Errorf("shred: bucket %q has no KMS key of its own in keys.bucket_keys", bucket)
	}
	arn, _, err := w.Active(ctx, bucket)
	if err != nil {
		return "", fmt.Errorf("shred: %w", err)
	}
	for _, other := range slices.Sorted(maps.Keys(w.bucketKeys)) {
		if other == bucket {
			continue
		}
		if oarn, _, err := w.Active(ctx, other); err == nil && oarn == arn {
			return "", fmt.Errorf("shred: KMS key %s is shared with bucket %q", arn, other)
		}
	}
	if w.defaultKey != "" {
		if darn, _, err := w.Active(ctx, ""); err == nil && darn == arn {
			return "", fmt.Errorf("shred: KMS key %s is also the default key", arn)
		}
	}
	if err := w.Destroy(ctx, arn); err != nil {
		return "", fmt.Errorf("shred: %w", err)
	}
	return arn, nil
}

// Destroy disables the KMS key keyID at once and schedules its deletion
// after [PendingDeletionDays]: data keys wrapped under it no longer
// unwrap. It does not check that no object uses the key; "cloak keys
// retire" scans first, and Shred checks that no other bucket shares it.
func (w *Wrapper) Destroy(ctx context.Context, keyID string) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if _, err := w.client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		return w.fail(ctx, "DisableKey", keyID, err)
	}
	if _, err := w.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(PendingDeletionDays)}); err != nil {
		return fmt.Errorf("key disabled, but: %w", w.fail(ctx, "ScheduleKeyDeletion", keyID, err))
	}
	return nil
}

// KeyState returns the KMS state of a key (Enabled, Disabled,
// PendingDeletion, ...), for "cloak keys list".
func (w *Wrapper) KeyState(ctx context.Context, keyID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return "", callError("DescribeKey", keyID, err, "")
	}
	if out.KeyMetadata == nil {
		return "", errors.New("DescribeKey returned no key metadata")
	}
	return string(out.KeyMetadata.KeyState), nil
}

// ConfiguredKeys returns the configured key ids: the default key (for
// bucket "") and each bucket's own.
func (w *Wrapper) ConfiguredKeys() map[string]string {
	m := maps.Clone(w.bucketKeys)
	if m == nil {
		m = map[string]string{}
	}
	if w.defaultKey != "" {
		m[""] = w.defaultKey
	}
	return m
}
