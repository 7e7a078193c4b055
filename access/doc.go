// Package access is Cloak's access control: users with access keys,
// groups, and policies in a documented subset of the IAM JSON language,
// kept in one sealed state document that every instance in front of the
// same store shares.
//
// # Who may do what
//
// A [Manager] holds the state and is the proxy's sigv4.CredentialStore:
// [Manager.Lookup] finds the secret of an access key and attaches an
// [*Identity] (the user, and the policies attached to it and to its
// groups). The proxy asks [Identity.Allowed] about each [Check] that
// [ChecksFor] derives from an S3 request; [Evaluate] decides as IAM does
// for identity policies: an explicit Deny wins, else an Allow allows,
// else the request is not allowed. The root user (configured, or
// generated on first start) may do everything.
//
// # Policy language
//
// [ParsePolicy] accepts Version "2012-10-17" and a Statement list (or a
// single statement) with Sid, Effect ("Allow" or "Deny"), Action or
// NotAction (a string or a list; "*", "s3:GetObject", "s3:Get*", "cloak:*"
// and other wildcard patterns, which must match an action Cloak knows),
// Resource ("*", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/prefix/*"
// with "*" and "?" wildcards, or [AdminResource]) and Condition with
// IpAddress and NotIpAddress on aws:SourceIp (CIDR blocks or addresses,
// IPv4 and IPv6), Bool on aws:SecureTransport, and StringEquals,
// StringNotEquals, StringLike and StringNotLike on s3:prefix and
// s3:delimiter (set by [ChecksFor] for listings). Anything else is refused
// with an error that names it: Principal, NotResource, other operators
// and keys, policy variables, unknown fields. A document is at most
// [MaxPolicySize] bytes and [MaxPolicyDepth] levels deep.
//
// # Where the state lives
//
// The state is one JSON document behind the [Storage] interface; cloak
// serve keeps it as an ordinary Cloak-encrypted object in a system bucket
// (names starting with [SystemBucketPrefix], hidden from and refused to
// clients), so it is sealed under the key provider like any object, and
// secret keys never reach the store in the clear. Writes are conditional
// on the version read, so concurrent administrators never lose each
// other's changes. A Manager applies its own changes at once; others
// notice them at their next [Manager.Reload], which [Manager.Watch] runs
// every reload interval.
//
// # Administrative acts
//
// Each act is one method of Manager (CreateUser, DisableUser, RotateKey,
// CreatePolicy, AttachPolicy, ...); package adminapi exposes them over
// HTTP and the cloak admin command calls them offline.
package access
