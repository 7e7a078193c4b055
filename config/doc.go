// Package config loads and validates the configuration of cloak serve.
//
// Nothing needs configuring: with no file, variable or flag, Cloak
// listens on 127.0.0.1:9443 with TLS (a self-signed certificate kept
// under the data directory), keeps encrypted objects in ./cloak-data and
// answers as region us-east-1. Root credentials left unset are generated
// by the serve command; [Config.HasRootCredentials] tells it.
//
// This package never imports the proxy or the command; they import it.
// It does not log and does not watch anything: reloading certificates is
// package proxy/tlscert's job.
//
// # Sources and precedence
//
// [Load] starts from [Default] and applies, each overriding the one
// before:
//
//  1. the YAML file named by --config or $CLOAK_CONFIG;
//  2. the environment: CLOAK_ and the field's path in upper case with
//     dots as underscores;
//  3. the flags given on the command line: the path with dots and
//     underscores as hyphens.
//
// Then the paths that default to the data directory are filled in, and
// [Config.Validate] checks the result. A variable set to the empty string
// counts as unset. Lists (s3.domains, migrating) are comma-separated in
// variables and flags and replace, not extend, the file's list.
//
// Credentials have no flags, because a command line is visible to every
// user of the machine. Each may instead come from a file named by its
// variable with _FILE appended (for Docker and Kubernetes secrets); the
// file holds the value on one line, and setting both the variable and
// its _FILE form is an error.
//
// # Fields
//
//	path                   variable                      flag                   default
//	listen                 CLOAK_LISTEN                  --listen               127.0.0.1:9443
//	data                   CLOAK_DATA                    --data                 cloak-data
//	tls.cert               CLOAK_TLS_CERT                --tls-cert             (self-signed)
//	tls.key                CLOAK_TLS_KEY                 --tls-key
//	tls.min_version        CLOAK_TLS_MIN_VERSION         --tls-min-version      1.2
//	insecure_http          CLOAK_INSECURE_HTTP           --insecure-http        false
//	insecure_http_force    CLOAK_INSECURE_HTTP_FORCE     --insecure-http-force  false
//	s3.region              CLOAK_S3_REGION               --s3-region            us-east-1
//	s3.domains             CLOAK_S3_DOMAINS              --s3-domains
//	root.access_key        CLOAK_ROOT_ACCESS_KEY*        -                      (generated)
//	root.secret_key        CLOAK_ROOT_SECRET_KEY*        -                      (generated)
//	backend.type           CLOAK_BACKEND_TYPE            --backend-type         local or s3 (below)
//	backend.local.dir      CLOAK_BACKEND_LOCAL_DIR       --backend-local-dir    <data>/objects
//	backend.s3.endpoint    CLOAK_BACKEND_S3_ENDPOINT     --backend-s3-endpoint
//	backend.s3.region      CLOAK_BACKEND_S3_REGION       --backend-s3-region    (discovered)
//	backend.s3.access_key  CLOAK_BACKEND_S3_ACCESS_KEY*  -                      (anonymous)
//	backend.s3.secret_key  CLOAK_BACKEND_S3_SECRET_KEY*  -
//	backend.s3.lookup      CLOAK_BACKEND_S3_LOOKUP       --backend-s3-lookup    auto
//	backend.s3.ca_file     CLOAK_BACKEND_S3_CA_FILE      --backend-s3-ca-file   (system roots)
//	keyring                CLOAK_KEYRING                 --keyring              <data>/keyring
//	keys.provider             CLOAK_KEYS_PROVIDER            --keys-provider           ring
//	keys.passphrase           CLOAK_KEYS_PASSPHRASE*         -                         (none: file mode only)
//	keys.reload_interval      CLOAK_KEYS_RELOAD_INTERVAL     --keys-reload-interval    2s
//	keys.cache_size           CLOAK_KEYS_CACHE_SIZE          --keys-cache-size         10000
//	keys.cache_ttl            CLOAK_KEYS_CACHE_TTL           --keys-cache-ttl          5m
//	keys.bucket_keys          CLOAK_KEYS_BUCKET_KEYS         --keys-bucket-keys
//	keys.awskms.key_id        CLOAK_KEYS_AWSKMS_KEY_ID       --keys-awskms-key-id
//	keys.awskms.endpoint      CLOAK_KEYS_AWSKMS_ENDPOINT     --keys-awskms-endpoint    (AWS)
//	keys.awskms.region        CLOAK_KEYS_AWSKMS_REGION       --keys-awskms-region      (environment)
//	keys.awskms.access_key    CLOAK_KEYS_AWSKMS_ACCESS_KEY*  -                         (SDK default chain)
//	keys.awskms.secret_key    CLOAK_KEYS_AWSKMS_SECRET_KEY*  -
//	keys.awskms.ca_file       CLOAK_KEYS_AWSKMS_CA_FILE      --keys-awskms-ca-file     (system roots)
//	keys.pkcs11.module        CLOAK_KEYS_PKCS11_MODULE       --keys-pkcs11-module
//	keys.pkcs11.token_label   CLOAK_KEYS_PKCS11_TOKEN_LABEL  --keys-pkcs11-token-label
//	keys.pkcs11.slot          CLOAK_KEYS_PKCS11_SLOT         --keys-pkcs11-slot
//	keys.pkcs11.pin           CLOAK_KEYS_PKCS11_PIN*         -
//	keys.pkcs11.key_label     CLOAK_KEYS_PKCS11_KEY_LABEL    --keys-pkcs11-key-label   cloak-master
//	access.bucket                     CLOAK_ACCESS_BUCKET                     --access-bucket                     cloak-system
//	access.reload_interval            CLOAK_ACCESS_RELOAD_INTERVAL            --access-reload-interval            1s
//	access.auth_failures_per_key      CLOAK_ACCESS_AUTH_FAILURES_PER_KEY      --access-auth-failures-per-key      10
//	access.auth_failures_per_address  CLOAK_ACCESS_AUTH_FAILURES_PER_ADDRESS  --access-auth-failures-per-address  50
//	access.auth_failure_window        CLOAK_ACCESS_AUTH_FAILURE_WINDOW        --access-auth-failure-window        1m
//	migrating              CLOAK_MIGRATING               --migrating
//	shutdown_timeout       CLOAK_SHUTDOWN_TIMEOUT        --shutdown-timeout     30s
//	max_requests           CLOAK_MAX_REQUESTS            --max-requests         1024
//	log.level              CLOAK_LOG_LEVEL               --log-level            info
//	log.format             CLOAK_LOG_FORMAT              --log-format           text
//	audit.sinks                    CLOAK_AUDIT_SINKS                    --audit-sinks                    file
//	audit.file                     CLOAK_AUDIT_FILE                     --audit-file                     <data>/audit/audit.log
//	audit.max_file_size            CLOAK_AUDIT_MAX_FILE_SIZE            --audit-max-file-size            104857600
//	audit.bucket                   CLOAK_AUDIT_BUCKET                   --audit-bucket                   cloak-system-audit
//	audit.required                 CLOAK_AUDIT_REQUIRED                 --audit-required                 false
//	audit.checkpoint_records       CLOAK_AUDIT_CHECKPOINT_RECORDS       --audit-checkpoint-records       1000
//	audit.checkpoint_interval      CLOAK_AUDIT_CHECKPOINT_INTERVAL      --audit-checkpoint-interval      1m
//	audit.key_file                 CLOAK_AUDIT_KEY_FILE                 --audit-key-file                 <data>/audit-key.json
//	alerts.denied_per_minute       CLOAK_ALERTS_DENIED_PER_MINUTE       --alerts-denied-per-minute       0 (off)
//	alerts.download_bytes_per_hour CLOAK_ALERTS_DOWNLOAD_BYTES_PER_HOUR --alerts-download-bytes-per-hour 0 (off)
//	alerts.tampering               CLOAK_ALERTS_TAMPERING               --alerts-tampering               true
//	alerts.allowed_networks        CLOAK_ALERTS_ALLOWED_NETWORKS        --alerts-allowed-networks        (off)
//	alerts.webhook                 CLOAK_ALERTS_WEBHOOK*                -                                (log only)
//	metrics.listen                 CLOAK_METRICS_LISTEN                 --metrics-listen                 (off)
//	metrics.pprof                  CLOAK_METRICS_PPROF                  --metrics-pprof                  false
//
//	* also read from the file named by the variable with _FILE appended
//
// The backend type defaults to s3 when backend.s3.endpoint is set and
// to local otherwise. The file is named by CLOAK_CONFIG or --config.
// The fields are documented on [Config]; config/testdata/cloak.example.yaml
// is a commented example that the tests load.
//
// # Errors
//
// A file with a syntax error fails with its line ("cloak.yaml: yaml:
// line 3: ..."); an unknown field or a value of the wrong type fails with
// its line and path ("cloak.yaml: line 7: backend.s3.endpiont: unknown
// field"). Validate returns every problem at once, joined, each a
// [FieldError] naming the field by path:
//
//	tls.min_version: must be "1.2" or "1.3", not "1.1"
//	insecure_http: refused on non-loopback address 0.0.0.0:9443; set insecure_http_force to allow
//
// # Secrets
//
// Secret keys have type [Secret], which prints as "REDACTED" (or "" when
// empty) through fmt, slog, JSON and YAML, so a Config can be logged
// whole. Errors never quote a secret, nor an endpoint URL, which may hold
// credentials. Access keys are not secret and print as they are.
package config
