package cmd

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/proxy/tlscert"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// runServe is "cloak serve": load the configuration, open the store and
// the key ring, and serve S3 until SIGINT or SIGTERM, then shut down
// gracefully.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := config.Load(fs, args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cloak serve: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "cloak serve: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	prov, created, err := openProvider(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer prov.close()
	if created {
		fmt.Fprintf(stdout, "Created a new key ring at %s. Back it up and keep it apart from the data:\n"+
			"without it nothing stored through Cloak can be decrypted.\n", cfg.KeyRing)
	}
	mon := newMonitor(cfg, store, prov, log)
	defer func() {
		if err := mon.close(); err != nil {
			log.Error("closing the audit log", slog.String("error", err.Error()))
		}
	}()
	wrapper := serveKeys(ctx, cfg, prov, log, mon)
	if err := mon.openAudit(ctx, cfg, prov, store, stdout, log); err != nil {
		return err
	}
	root, err := rootCredentials(ctx, cfg, wrapper, stdout)
	if err != nil {
		return err
	}
	users, err := openAccess(ctx, cfg, store, wrapper, &root, log)
	if err != nil {
		return err
	}
	go users.Watch(ctx, time.Duration(cfg.Access.ReloadInterval))
	handler, err := proxy.New(proxy.Options{
		Store: store, Keys: wrapper, Credentials: users,
		Region: cfg.S3.Region, Domains: cfg.S3.Domains,
		Migrating: cfg.IsMigrating, Logger: log,
		Access: users, AuthLimiter: authLimiter(cfg), MaxRequests: cfg.MaxRequests,
		Observer: mon,
	})
	if err != nil {
		return err
	}
	if cfg.Metrics.Listen != "" {
		addr, err := mon.serveMetrics(ctx, cfg.Metrics.Listen, log)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		fmt.Fprintf(stdout, "Metrics on http://%s/metrics (health: /healthz, /readyz)\n", addr)
	}
	srv := newHTTPServer(handler, log, defaultTimeouts)
	ln, scheme, err := listen(ctx, cfg, srv, log, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Cloak is serving S3 on %s://%s\n", scheme, ln.Addr())
	return run(ctx, srv, ln, time.Duration(cfg.ShutdownTimeout), log)
}

// serveKeys puts the data key cache (when configured) in front of the
// provider, and starts watching the provider for changes made by "cloak
// keys" elsewhere: a rotation takes effect on the next write, and any
// change (a shred above all) empties the cache, so a destroyed key stops
// opening objects within the watch interval.
func serveKeys(ctx context.Context, cfg *config.Config, prov keyProvider, log *slog.Logger,
	mon *monitor) crypto.KeyWrapper {
	wrapper := mon.timeKeys(prov)
	purge := func() {}
	if cfg.Keys.CacheSize > 0 {
		cache := keys.NewCache(wrapper, cfg.Keys.CacheSize, time.Duration(cfg.Keys.CacheTTL))
		wrapper, purge = cache, cache.Purge
		mon.cache.Store(cache)
	}
	changed := func() {
		purge()
		log.Info("master keys changed; data key cache emptied", slog.String("provider", prov.kind()))
	}
	failed := func(err error) {
		log.Error("master key check failed", slog.String("provider", prov.kind()),
			slog.String("error", err.Error()))
	}
	go prov.watch(ctx, time.Duration(cfg.Keys.ReloadInterval), changed, failed)
	return wrapper
}

// run serves until ctx is done, then shuts down: it stops accepting, lets
// requests in flight finish within timeout, then closes what is left. An
// upload cut off this way never becomes visible (see proxy.putObject).
func run(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(cfg *config.Config) (backend.Store, error) {
	if cfg.Backend.Type == "s3" {
		b := cfg.Backend.S3
		return s3store.New(s3store.Config{
			Endpoint: b.Endpoint, Region: b.Region, AccessKey: b.AccessKey,
			SecretKey: b.SecretKey.Reveal(), Lookup: b.Lookup, CAFile: b.CAFile,
		})
	}
	return localstore.New(cfg.Backend.Local.Dir)
}

// rootCredentials returns the root user's credential: from the
// configuration when set, else generated on first start, kept sealed
// under the key ring, and printed once.
func rootCredentials(ctx context.Context, cfg *config.Config, ring crypto.KeyWrapper, stdout io.Writer) (sigv4.Credential, error) {
	if cfg.HasRootCredentials() {
		return sigv4.Credential{AccessKey: cfg.Root.AccessKey, SecretKey: cfg.Root.SecretKey.Reveal()}, nil
	}
	path := filepath.Join(cfg.Data, "root-credentials.json")
	access, secret, created, err := keys.RootCredentials(ctx, path, ring)
	if err != nil {
		return sigv4.Credential{}, err
	}
	if created {
		fmt.Fprintf(stdout, "Generated root credentials (shown only now; set CLOAK_ROOT_ACCESS_KEY and\n"+
			"CLOAK_ROOT_SECRET_KEY to choose your own):\n  access key: %s\n  secret key: %s\n", access, secret)
	} else {
		fmt.Fprintf(stdout, "Root access key: %s (secret sealed in %s)\n", access, path)
	}
	return sigv4.Credential{AccessKey: access, SecretKey: secret}, nil
}

// listen opens the listener: TLS with the configured or self-signed
// certificate (reloaded on change and on SIGHUP), or plain HTTP when
// configured.
func listen(ctx context.Context, cfg *config.Config, srv *http.Server, log *slog.Logger, stdout io.Writer) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, "", err
	}
	if cfg.InsecureHTTP {
		fmt.Fprintln(stdout, "WARNING: serving plain HTTP; credentials and data cross the network unencrypted.")
		return ln, "http", nil
	}
	certFile, keyFile := cfg.TLS.Cert, cfg.TLS.Key
	if cfg.UsesSelfSigned() {
		certFile, keyFile, _, err = tlscert.EnsureSelfSigned(cfg.SelfSignedDir(), nil, time.Now())
		if err != nil {
			ln.Close()
			return nil, "", err
		}
	}
	reloader, err := tlscert.NewReloader(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	fmt.Fprintf(stdout, "TLS certificate %s\n  SHA-256 fingerprint %s\n", certFile,
		tlscert.Fingerprint(reloader.Certificate().Leaf))
	onErr := func(err error) { log.Error("TLS certificate reload failed", slog.String("error", err.Error())) }
	go reloader.Watch(ctx, 5*time.Second, onErr)
	go reloadOnHangup(ctx, reloader, onErr)
	srv.TLSConfig = tlscert.ServerConfig(reloader, cfg.TLS.MinVersionID())
	return tls.NewListener(ln, srv.TLSConfig), "https", nil
}

func reloadOnHangup(ctx context.Context, r *tlscert.Reloader, onErr func(error)) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := r.Reload(); err != nil {
				onErr(err)
			}
		}
	}
}
