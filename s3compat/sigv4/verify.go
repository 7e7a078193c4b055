package sigv4

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// MaxClockSkew is how far a header-signed request's time may be from the
// verifier's clock, either way.
const MaxClockSkew = 15 * time.Minute

// ErrNotSigned is wrapped by the error Verify returns for a request that
// carries no signature at all, so that a caller allowing anonymous access
// can tell it from a bad signature.
var ErrNotSigned = errors.New("request is not signed")

// Config tunes a Verifier.
type Config struct {
	// Region is the only region accepted in credential scopes; when empty
	// any region is accepted.
	Region string
	// Now returns the current time; time.Now when nil. Tests set it.
	Now func() time.Time
	// KeyCacheSize bounds the signing-key cache; DefaultKeyCacheSize when
	// zero or negative.
	KeyCacheSize int
}

// Verifier checks SigV4 signatures of incoming requests. It is safe for
// concurrent use.
type Verifier struct {
	store  CredentialStore
	region string
	now    func() time.Time
	keys   *keyCache
}

// NewVerifier returns a Verifier that looks secrets up in store.
func NewVerifier(store CredentialStore, cfg Config) *Verifier {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{store: store, region: cfg.Region, now: now,
		keys: newKeyCache(cfg.KeyCacheSize)}
}

// Verify checks the signature of r, signed either in its Authorization
// header or as a presigned URL, and returns who signed it and how its
// payload is to be read (see [Auth.Body]). It does not read the body.
//
// Every failure is an *s3err.Error: AccessDenied (wrapping ErrNotSigned)
// for an unsigned request, AuthorizationHeaderMalformed or
// AuthorizationQueryParametersError for malformed fields, InvalidRequest
// for SigV2 and SigV4A, InvalidAccessKeyId, RequestTimeTooSkewed,
// AccessDenied for an expired presigned URL, SignatureDoesNotMatch.
func (v *Verifier) Verify(r *http.Request) (*Auth, error) {
	p, err := readParams(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkParams(r, &p); err != nil {
		return nil, err
	}
	cred, err := v.lookup(r, p.accessKey)
	if err != nil {
		return nil, err
	}
	hash, mode, err := payloadHash(r, &p)
	if err != nil {
		return nil, err
	}
	key := v.keys.signingKey(cred.SecretKey, p.scopeDate, p.region, p.service)
	scope := p.scopeDate + "/" + p.region + "/" + p.service + "/" + scopeTerminal
	canon := canonicalRequest(r, p.signedHeaders, hash, p.presigned)
	sig := hmacSHA256(key, stringToSign(p.date, scope, canon))
	if !hmac.Equal(sig, p.signature) {
		return nil, s3err.ErrSignatureDoesNotMatch
	}
	return &Auth{Credential: cred, Presigned: p.presigned, PayloadMode: mode,
		Time: p.date, Region: p.region, payloadHash: hash, signingKey: key,
		scope: scope, seed: sig}, nil
}

// readParams finds the signature of r in its header or its query.
func readParams(r *http.Request) (sigParams, error) {
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	inQuery := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") ||
		q.Has("X-Amz-Credential")
	v2Query := q.Has("AWSAccessKeyId") && q.Has("Signature")
	switch {
	case authz != "" && (inQuery || v2Query):
		return sigParams{}, s3err.ErrInvalidArgument.WithMessage("Only one auth " +
			"mechanism allowed; only the X-Amz-Algorithm query parameter, Signature " +
			"query string parameter or the Authorization header should be specified")
	case authz != "":
		p, err := parseAuthHeader(authz)
		if err != nil {
			return p, err
		}
		p.date, err = requestDate(r.Header)
		return p, err
	case inQuery:
		return parsePresignQuery(q)
	case v2Query:
		return sigParams{}, s3err.ErrInvalidRequest.WithMessage(msgUnsupportedAuth)
	}
	return sigParams{}, s3err.ErrAccessDenied.WithCause(ErrNotSigned)
}

// checkParams checks the scope, the signed headers and the time.
func (v *Verifier) checkParams(r *http.Request, p *sigParams) error {
	bad := malformedFunc(headerMalformed)
	if p.presigned {
		bad = queryMalformed
	}
	if err := v.checkScope(p, bad); err != nil {
		return err
	}
	if !slices.Contains(p.signedHeaders, "host") {
		return bad("the host header must be signed")
	}
	if err := checkAllAmzSigned(r, p); err != nil {
		return err
	}
	return v.checkTime(p)
}

func (v *Verifier) checkScope(p *sigParams, bad malformedFunc) error {
	switch {
	case p.scopeDate != p.date.Format(scopeDateFmt):
		return bad("Invalid credential date. Date is not the same as X-Amz-Date.")
	case v.region != "" && p.region != v.region:
		return bad("the region '%s' is wrong; expecting '%s'", truncate(p.region), v.region)
	case p.region == "":
		return bad("the region must not be empty")
	case p.service != "s3":
		return bad(`incorrect service "%s". This endpoint belongs to "s3".`,
			truncate(p.service))
	case p.terminal != scopeTerminal:
		return bad(`incorrect terminal "%s". This endpoint uses "aws4_request".`,
			truncate(p.terminal))
	}
	return nil
}

// checkAllAmzSigned rejects x-amz-* headers that the signature does not
// cover, as S3 does. x-amz-content-sha256 of a header-signed request is
// exempt: its value is the last line of the canonical request anyway.
func checkAllAmzSigned(r *http.Request, p *sigParams) error {
	var unsigned []string
	for name := range r.Header {
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, "x-amz-") || slices.Contains(p.signedHeaders, l) {
			continue
		}
		if l == "x-amz-content-sha256" && !p.presigned {
			continue
		}
		unsigned = append(unsigned, l)
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	return s3err.ErrAccessDenied.WithMessage("There were headers present in the " +
		"request which were not signed: " + truncate(strings.Join(unsigned, ", ")))
}

// checkTime enforces the skew window for header-signed requests and the
// validity window of presigned URLs.
func (v *Verifier) checkTime(p *sigParams) error {
	now := v.now()
	if !p.presigned {
		if d := now.Sub(p.date); d > MaxClockSkew || d < -MaxClockSkew {
			return s3err.ErrRequestTimeTooSkewed
		}
		return nil
	}
	if p.date.Sub(now) > MaxClockSkew {
		return s3err.ErrAccessDenied.WithMessage("Request is not valid yet")
	}
	if now.After(p.date.Add(p.expires)) {
		return s3err.ErrAccessDenied.WithMessage("Request has expired")
	}
	return nil
}

// lookup asks the store for the credential of accessKey.
func (v *Verifier) lookup(r *http.Request, accessKey string) (Credential, error) {
	cred, err := v.store.Lookup(r.Context(), accessKey)
	if err == nil {
		return cred, nil
	}
	if errors.Is(err, s3err.ErrInvalidAccessKeyID) {
		return cred, err
	}
	return cred, fmt.Errorf("failed to look up access key: %w", err)
}
