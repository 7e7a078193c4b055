package awskms

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/crypto"
)

// Errors for KMS keys that exist but cannot be used. Callers branch on
// them with errors.Is; the error's text names the key.
var (
	// ErrKeyDisabled is returned when the KMS key is disabled.
	ErrKeyDisabled = fmt.Errorf("cloak/awskms: KMS key is disabled: %w", crypto.ErrKeyDestroyed)
	// ErrKeyUnusable is returned when the KMS key is in a state that
	// allows no cryptographic use: pending deletion, pending import of
	// its material, or unavailable (a custom key store disconnected).
	ErrKeyUnusable = fmt.Errorf("cloak/awskms: KMS key is not usable in its current state: %w",
		crypto.ErrKeyDestroyed)
)

// kmsError is a failed KMS call. Its text is written here from the
// operation, the key id, the KMS error code and the request id; it does
// not repeat the server's message, because a server (or a proxy in front
// of it) that echoes the request would put the session token, or in an
// Encrypt call the data key, into it. It unwraps to the sentinel that
// callers branch on and to the SDK's error, whose message errors.As can
// still reach.
type kmsError struct {
	msg  string
	errs []error
}

func (e *kmsError) Error() string   { return e.msg }
func (e *kmsError) Unwrap() []error { return e.errs }

// hints explain, in place of the server's message, the KMS error codes an
// operator meets when setting up keys.
var hints = map[string]string{
	"AccessDeniedException": "the IAM policy, key policy or a grant does not allow this " +
		"principal this operation on this key (with this encryption context)",
	"UnrecognizedClientException": "the access key is not valid for this endpoint",
	"InvalidSignatureException":   "the secret key does not match the access key",
	"KMSInvalidStateException": "the key is pending deletion, pending import " +
		"or unavailable",
	"KeyUnavailableException": "the key's custom key store is unavailable",
}

// sentinels maps KMS error codes to the errors callers branch on.
var sentinels = map[string]error{
	// The ciphertext does not open: tampered, truncated, another
	// encryption context, or (IncorrectKey) made under another key.
	"InvalidCiphertextException": crypto.ErrAuthentication,
	"IncorrectKeyException":      crypto.ErrAuthentication,
	"NotFoundException":          crypto.ErrUnknownKey,
	"DisabledException":          ErrKeyDisabled,
	"KMSInvalidStateException":   ErrKeyUnusable,
	"KeyUnavailableException":    ErrKeyUnusable,
}

// errorCode returns the KMS error code of err, or "" for errors that are
// not KMS API errors.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// callError describes the failure err of KMS operation op on keyID;
// state, when known, is the key's state. Errors that are not KMS API
// errors (network, context, credentials) keep the SDK's text, which
// holds no credential, key material or plaintext.
func callError(op, keyID string, err error, state types.KeyState) error {
	code := errorCode(err)
	if code == "" {
		return fmt.Errorf("kms %s with key %q: %w", op, keyID, err)
	}
	msg := fmt.Sprintf("kms %s with key %q: %s", op, keyID, code)
	if state != "" {
		msg += fmt.Sprintf(" (key state %s)", state)
	} else if h := hints[code]; h != "" {
		msg += " (" + h + ")"
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.ServiceRequestID() != "" {
		msg += ", request id " + respErr.ServiceRequestID()
	}
	errs := []error{err}
	if s := sentinels[code]; s != nil {
		msg += ": " + s.Error()
		errs = []error{s, err}
	}
	return &kmsError{msg: msg, errs: errs}
}

// fail describes the failure err of KMS operation op on keyID. When KMS
// reports the key in an invalid state, it asks KMS (DescribeKey) which
// state, so that the error says "PendingDeletion" rather than guess.
func (w *Wrapper) fail(ctx context.Context, op, keyID string, err error) error {
	var state types.KeyState
	if errorCode(err) == "KMSInvalidStateException" {
		out, derr := w.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		if derr == nil && out.KeyMetadata != nil {
			state = out.KeyMetadata.KeyState
		}
	}
	return callError(op, keyID, err, state)
}
