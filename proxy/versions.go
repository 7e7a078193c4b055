package proxy

import (
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// errNoVersions is the answer to a request for a particular version of
// an object, as S3 gives it for a bucket without versioning: Cloak keeps
// one version of each object, whose id is "null".
var errNoVersions = s3err.ErrInvalidArgument.WithMessage("Invalid version id specified")

// checkVersionID refuses a GET, HEAD or DELETE of an object version other
// than "null". Serving or deleting the current object instead would give
// a client that asked for an older version the wrong data, or delete the
// data it meant to keep.
func checkVersionID(r s3compat.Request) error {
	switch r.Op {
	case s3compat.OpGetObject, s3compat.OpHeadObject, s3compat.OpDeleteObject:
		return versionIDError(r.VersionID)
	}
	return nil
}

// versionIDError returns errNoVersions unless id is empty or "null".
func versionIDError(id string) error {
	if id != "" && id != "null" {
		return errNoVersions
	}
	return nil
}
