package cmd

import (
	"context"
	"log/slog"
	"time"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// openAccess opens the users, groups and policies kept sealed in the
// configured system bucket of store, under the key provider keys. root,
// when set, is the root user (an admin).
func openAccess(ctx context.Context, cfg *config.Config, store backend.Store, keys crypto.KeyWrapper,
	root *sigv4.Credential, log *slog.Logger) (*access.Manager, error) {
	docs, err := proxy.New(proxy.Options{Store: store, Keys: keys, Credentials: sigv4.StaticCredentials{},
		Logger: log})
	if err != nil {
		return nil, err
	}
	return access.NewManager(ctx, access.Options{
		Storage: docs.SealedDocument(cfg.Access.Bucket, access.StateKey),
		Root:    root, Logger: log,
	})
}

// authLimiter is the failed-authentication limiter the configuration
// asks for.
func authLimiter(cfg *config.Config) *access.Limiter {
	a := cfg.Access
	return access.NewLimiter(access.LimiterConfig{PerKey: a.FailuresPerKey,
		PerAddress: a.FailuresPerAddress, Window: time.Duration(a.FailureWindow)})
}
