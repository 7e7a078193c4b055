package cmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/keys/awskms"
	"github.com/cloakproxy/cloak/keys/pkcs11"
)

// keyProvider is the configured master key provider together with what
// "cloak keys" and "cloak serve" do with it. Each provider does what its
// nature allows; what it cannot do is an error that says what to do
// instead.
type keyProvider interface {
	keys.Provider
	// kind names the provider: "ring", "awskms" or "pkcs11".
	kind() string
	// list describes the master keys.
	list(ctx context.Context) ([]keyRow, error)
	// rotate makes a new version of bucket's key active for new writes.
	rotate(ctx context.Context, bucket string) (keyRow, error)
	// createBucketKey gives bucket its own master key.
	createBucketKey(ctx context.Context, bucket string) (keyRow, error)
	// defaultID is the key id that retire acts on without --id.
	defaultID() string
	// retire destroys a version that is no longer active.
	retire(ctx context.Context, id string, version uint32) error
	// shred destroys every version of bucket's own key.
	shred(ctx context.Context, bucket string) ([]keyRow, error)
	// watch notices, every interval until ctx ends, changes made by
	// other processes (rotation, shredding), calling changed after each.
	watch(ctx context.Context, interval time.Duration, changed func(), failed func(error))
	close() error
}

// keyRow is one master key version as "cloak keys list" shows it.
type keyRow struct {
	ID        string     `json:"id"`
	Version   uint32     `json:"version"`
	State     string     `json:"state"`
	Created   *time.Time `json:"created,omitempty"`
	Destroyed *time.Time `json:"destroyed,omitempty"`
	Buckets   []string   `json:"buckets,omitempty"`
}

// openProvider opens the provider that cfg configures. With create, a
// missing key ring file is created, missing HSM keys are generated and
// the key ring's configured bucket keys are created (as "cloak serve"
// does on start); created reports a new key ring file.
func openProvider(ctx context.Context, cfg *config.Config, create bool) (p keyProvider, created bool, err error) {
	switch cfg.Keys.Provider {
	case "awskms":
		return openKMS(ctx, cfg)
	case "pkcs11":
		return openHSM(cfg, create)
	default:
		return openRing(cfg, create)
	}
}

// ringProvider is the key ring file.
type ringProvider struct{ *keys.Ring }

func openRing(cfg *config.Config, create bool) (keyProvider, bool, error) {
	ring, created, err := keys.Open(cfg.KeyRing, keys.Options{
		Passphrase: []byte(cfg.Keys.Passphrase.Reveal()), Create: create})
	if err != nil {
		return nil, false, err
	}
	p := ringProvider{ring}
	if create {
		for _, bucket := range slices.Sorted(maps.Keys(cfg.BucketKeyMap())) {
			if hasBucketKey(ring, bucket) {
				continue
			}
			if _, err := ring.CreateBucketKey(bucket); err != nil {
				ring.Close()
				return nil, false, fmt.Errorf("keys.bucket_keys: %w", err)
			}
		}
	}
	return p, created, nil
}

func hasBucketKey(ring *keys.Ring, bucket string) bool {
	for _, k := range ring.Keys() {
		if slices.Contains(k.Buckets, bucket) && k.State == keys.StateActive {
			return true
		}
	}
	return false
}

func (ringProvider) kind() string { return "ring" }

func ringRow(k keys.KeyInfo) keyRow {
	r := keyRow{ID: k.ID, Version: k.Version, State: string(k.State), Buckets: k.Buckets}
	if !k.Created.IsZero() {
		t := k.Created
		r.Created = &t
	}
	if !k.Destroyed.IsZero() {
		t := k.Destroyed
		r.Destroyed = &t
	}
	return r
}

func (p ringProvider) list(context.Context) ([]keyRow, error) {
	var rows []keyRow
	for _, k := range p.Keys() {
		rows = append(rows, ringRow(k))
	}
	return rows, nil
}

func (p ringProvider) rotate(_ context.Context, bucket string) (keyRow, error) {
	k, err := p.Rotate(bucket)
	return ringRow(k), err
}

func (p ringProvider) createBucketKey(_ context.Context, bucket string) (keyRow, error) {
	k, err := p.CreateBucketKey(bucket)
	k.Buckets = []string{bucket}
	return ringRow(k), err
}

func (ringProvider) defaultID() string { return keys.DefaultKeyID }

func (p ringProvider) retire(_ context.Context, id string, v uint32) error { return p.Retire(id, v) }

func (p ringProvider) shred(_ context.Context, bucket string) ([]keyRow, error) {
	ks, err := p.Shred(bucket)
	var rows []keyRow
	for _, k := range ks {
		rows = append(rows, ringRow(k))
	}
	return rows, err
}

func (p ringProvider) watch(ctx context.Context, interval time.Duration, changed func(), failed func(error)) {
	p.Watch(ctx, interval, changed, failed)
}

func (p ringProvider) close() error { p.Close(); return nil }

// kmsProvider is AWS KMS.
type kmsProvider struct {
	*awskms.Wrapper
}

func openKMS(ctx context.Context, cfg *config.Config) (keyProvider, bool, error) {
	k := cfg.Keys.AWSKMS
	bucketKeys := cfg.BucketKeyMap()
	w, err := awskms.New(ctx, awskms.Config{Endpoint: k.Endpoint, Region: k.Region,
		AccessKey: k.AccessKey, SecretKey: k.SecretKey.Reveal(), KeyID: k.KeyID,
		BucketKeys: bucketKeys, CAFile: k.CAFile})
	if err != nil {
		return nil, false, err
	}
	return kmsProvider{w}, false, nil
}

func (kmsProvider) kind() string { return "awskms" }

func (p kmsProvider) list(ctx context.Context) ([]keyRow, error) {
	byARN := map[string][]string{}
	var errs []error
	for bucket, id := range p.ConfiguredKeys() {
		arn, _, err := p.Active(ctx, bucket)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: %w", id, err))
			continue
		}
		byARN[arn] = append(byARN[arn], bucket)
	}
	var rows []keyRow
	for _, arn := range slices.Sorted(maps.Keys(byARN)) {
		state, err := p.KeyState(ctx, arn)
		if err != nil {
			errs = append(errs, err)
		}
		buckets := slices.DeleteFunc(slices.Sorted(slices.Values(byARN[arn])),
			func(b string) bool { return b == "" })
		rows = append(rows, keyRow{ID: arn, State: "active (KMS " + state + ")", Buckets: buckets})
	}
	return rows, errors.Join(errs...)
}

func (kmsProvider) rotate(context.Context, string) (keyRow, error) {
	return keyRow{}, errors.New("AWS KMS rotates key material itself, and objects need nothing " +
		"from Cloak for that: enable automatic rotation, or run " +
		"'aws kms rotate-key-on-demand --key-id KEY'; to move a bucket to another KMS key, " +
		"point keys.awskms.key_id or keys.bucket_keys at it and run 'cloak keys rewrap'")
}

func (kmsProvider) createBucketKey(context.Context, string) (keyRow, error) {
	return keyRow{}, errors.New("create the KMS key in KMS ('aws kms create-key'), add " +
		"bucket=KEY to keys.bucket_keys, restart, then run 'cloak keys rewrap --bucket B'")
}

func (kmsProvider) defaultID() string { return "" }

func (p kmsProvider) retire(ctx context.Context, id string, _ uint32) error {
	if id == "" {
		return errors.New("name the KMS key to retire with --id ARN")
	}
	for bucket := range p.ConfiguredKeys() {
		if arn, _, err := p.Active(ctx, bucket); err == nil && arn == id {
			return fmt.Errorf("KMS key %s is still configured for new writes; "+
				"change the configuration and rewrap first", id)
		}
	}
	return p.Destroy(ctx, id)
}

func (p kmsProvider) shred(ctx context.Context, bucket string) ([]keyRow, error) {
	arn, err := p.Shred(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return []keyRow{{ID: arn, State: "disabled, deletion scheduled in " +
		strconv.Itoa(awskms.PendingDeletionDays) + " days", Buckets: []string{bucket}}}, nil
}

// kmsWatchInterval is the least interval between checks of the KMS keys:
// each check is a DescribeKey per key, which KMS bills.
const kmsWatchInterval = 30 * time.Second

func (p kmsProvider) watch(ctx context.Context, interval time.Duration, changed func(), failed func(error)) {
	interval = max(interval, kmsWatchInterval)
	last := map[string]string{}
	poll := func() {
		diff := false
		for bucket := range p.ConfiguredKeys() {
			arn, _, err := p.Active(ctx, bucket)
			if err != nil {
				failed(err)
				continue
			}
			state, err := p.KeyState(ctx, arn)
			if err != nil {
				failed(err)
				continue
			}
			if prev, ok := last[arn]; ok && prev != state {
				diff = true
			}
			last[arn] = state
		}
		if diff {
			changed()
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		poll()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (kmsProvider) close() error { return nil }

// hsmProvider is a PKCS#11 token.
type hsmProvider struct {
	*pkcs11.Wrapper
	defaultLabel string
	bucketLabels map[string]string
}

func openHSM(cfg *config.Config, create bool) (keyProvider, bool, error) {
	k := cfg.Keys.PKCS11
	pc := pkcs11.Config{Module: k.Module, TokenLabel: k.TokenLabel, PIN: k.PIN.Reveal(),
		KeyLabel: k.KeyLabel, BucketKeys: cfg.BucketKeyMap(), Create: create,
		RefreshInterval: time.Duration(cfg.Keys.ReloadInterval)}
	if k.Slot != "" {
		n, err := strconv.ParseUint(k.Slot, 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("keys.pkcs11.slot: %w", err)
		}
		slot := uint(n)
		pc.Slot = &slot
	}
	w, err := pkcs11.Open(pc)
	if err != nil {
		return nil, false, err
	}
	return hsmProvider{Wrapper: w, defaultLabel: k.KeyLabel, bucketLabels: cfg.BucketKeyMap()}, false, nil
}

func (hsmProvider) kind() string { return "pkcs11" }

// labels maps each configured label to the buckets that use it ("" for
// the default).
func (p hsmProvider) labels() map[string][]string {
	m := map[string][]string{p.defaultLabel: nil}
	for b, l := range p.bucketLabels {
		m[l] = append(m[l], b)
	}
	return m
}

func (p hsmProvider) list(ctx context.Context) ([]keyRow, error) {
	var rows []keyRow
	labels := p.labels()
	for _, label := range slices.Sorted(maps.Keys(labels)) {
		vs, err := p.Versions(label)
		if err != nil {
			return rows, err
		}
		buckets := slices.Sorted(slices.Values(labels[label]))
		if len(vs) == 0 {
			rows = append(rows, keyRow{ID: label, State: "no versions on the token", Buckets: buckets})
			continue
		}
		bucket := ""
		if len(buckets) > 0 {
			bucket = buckets[0]
		}
		_, active, err := p.Active(ctx, bucket)
		if err != nil {
			return rows, err
		}
		for _, v := range vs {
			state := string(keys.StateDecryptOnly)
			if v == active {
				state = string(keys.StateActive)
			}
			rows = append(rows, keyRow{ID: label, Version: v, State: state, Buckets: buckets})
		}
	}
	return rows, nil
}

func (p hsmProvider) rotate(ctx context.Context, bucket string) (keyRow, error) {
	label := p.LabelFor(bucket)
	v, err := p.CreateKey(ctx, label)
	return keyRow{ID: label, Version: v, State: string(keys.StateActive)}, err
}

func (p hsmProvider) createBucketKey(ctx context.Context, bucket string) (keyRow, error) {
	label, ok := p.bucketLabels[bucket]
	if !ok {
		return keyRow{}, fmt.Errorf("bucket %q has no label in keys.bucket_keys: add bucket=LABEL "+
			"to the configuration first", bucket)
	}
	vs, err := p.Versions(label)
	if err != nil {
		return keyRow{}, err
	}
	if len(vs) > 0 {
		return keyRow{}, fmt.Errorf("bucket %s already has key %s (versions %v)", bucket, label, vs)
	}
	v, err := p.CreateKey(ctx, label)
	return keyRow{ID: label, Version: v, State: string(keys.StateActive), Buckets: []string{bucket}}, err
}

func (p hsmProvider) defaultID() string { return p.defaultLabel }

func (p hsmProvider) retire(ctx context.Context, label string, v uint32) error {
	if err := p.refuseActive(ctx, label, v); err != nil {
		return err
	}
	return p.DestroyKey(ctx, label, v)
}

// refuseActive fails if version v of label is what Wrap uses for any
// bucket.
func (p hsmProvider) refuseActive(ctx context.Context, label string, v uint32) error {
	buckets := append([]string{""}, slices.Collect(maps.Keys(p.bucketLabels))...)
	for _, b := range buckets {
		if l, av, err := p.Active(ctx, b); err == nil && l == label && av == v {
			return fmt.Errorf("retire %s v%d: it is the active version; rotate first", label, v)
		}
	}
	return nil
}

func (p hsmProvider) shred(ctx context.Context, bucket string) ([]keyRow, error) {
	label, ok := p.bucketLabels[bucket]
	if !ok {
		return nil, fmt.Errorf("shred: bucket %q has no key of its own in keys.bucket_keys", bucket)
	}
	if label == p.defaultLabel {
		return nil, fmt.Errorf("shred: bucket %q uses the default key %s", bucket, label)
	}
	for b, l := range p.bucketLabels {
		if b != bucket && l == label {
			return nil, fmt.Errorf("shred: key %s is shared with bucket %s", label, b)
		}
	}
	vs, err := p.Versions(label)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("shred: key %s has no versions on the token (already shredded?)", label)
	}
	var rows []keyRow
	now := time.Now().UTC()
	for _, v := range vs {
		if err := p.DestroyKey(ctx, label, v); err != nil {
			return rows, err
		}
		rows = append(rows, keyRow{ID: label, Version: v, State: string(keys.StateShredded),
			Destroyed: &now, Buckets: []string{bucket}})
	}
	return rows, nil
}

func (p hsmProvider) watch(ctx context.Context, interval time.Duration, changed func(), failed func(error)) {
	last := map[string][]uint32{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		diff := false
		for label := range p.labels() {
			vs, err := p.Versions(label)
			if err != nil {
				failed(err)
				continue
			}
			if prev, ok := last[label]; ok && !slices.Equal(prev, vs) {
				diff = true
			}
			last[label] = vs
		}
		if diff {
			changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p hsmProvider) close() error { return p.Close() }
