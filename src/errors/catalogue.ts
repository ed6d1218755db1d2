// The one catalogue of Berth's domain errors: every code a service, a route or the HTTP layer may raise,
// with its default message and what it means. No HTTP in here: each surface (src/http/errors/) maps every
// code to the status, wire code and headers its clients see, and README.md's "Error codes" lists them all
// (test/unit/error-catalogue.test.ts holds the three together).

interface Entry { readonly message: string; readonly meaning: string }

export const ERROR_CATALOGUE = {
  // --- content and uploads (the OCI distribution model)
  BLOB_UNKNOWN: { message: 'blob unknown to registry', meaning: 'the blob is not linked to this repository, or its content is missing from storage' },
  BLOB_UPLOAD_UNKNOWN: { message: 'blob upload unknown to registry', meaning: 'no upload session with this id in this repository (or its data was lost)' },
  BLOB_IN_USE: { message: 'blob is referenced by a manifest in this repository', meaning: 'a blob a manifest of the repository still references cannot be deleted' },
  BLOB_COLLECTED: { message: 'the blob was collected while it was being published; push it again', meaning: 'garbage collection removed the blob during its publication' },
  BLOB_UNREADABLE: { message: 'the blob\'s stored content failed its integrity check and is not served', meaning: 'encryption at rest found the stored bytes altered, truncated or reordered, or the key that opens them unavailable; an operator must restore the blob (the audit log has the details)' },
  DIGEST_INVALID: { message: 'provided digest did not match uploaded content', meaning: 'a digest is malformed, of an unsupported algorithm, or does not match the content' },
  SIZE_INVALID: { message: 'provided length did not match content length', meaning: 'Content-Length or Content-Range disagrees with the bytes received' },
  RANGE_INVALID: { message: 'the chunk does not continue the upload', meaning: 'an upload chunk does not start at the session\'s offset, follows a short last chunk, or raced another' },
  CONTENT_RANGE_INVALID: { message: 'malformed Content-Range; expected <start>-<end>', meaning: 'the Content-Range header of an upload chunk cannot be parsed' },
  RANGE_NOT_SATISFIABLE: { message: 'requested range not satisfiable', meaning: 'the Range asked of a blob lies outside it' },
  MANIFEST_BLOB_UNKNOWN: { message: 'manifest references a manifest or blob unknown to registry', meaning: 'a manifest or index names content the repository does not hold' },
  MANIFEST_INVALID: { message: 'manifest invalid', meaning: 'the manifest cannot be parsed, breaks its schema, or a descriptor size is wrong' },
  MANIFEST_TOO_LARGE: { message: 'manifest exceeds the size limit', meaning: 'the manifest is larger than registry.maxManifestBytes' },
  MANIFEST_UNKNOWN: { message: 'manifest unknown to registry', meaning: 'no manifest under this tag or digest (or none the Accept header allows)' },
  NAME_INVALID: { message: 'invalid repository name', meaning: 'the repository name breaks the OCI name grammar' },
  NAME_UNKNOWN: { message: 'repository name not known to registry', meaning: 'the repository does not exist' },
  TAG_INVALID: { message: 'manifest tag did not match URI', meaning: 'a tag is malformed, or tags were given where they are not allowed' },
  TOO_MANY_TAGS: { message: 'too many tags in one push', meaning: 'a push by digest names more tag= parameters than Berth applies at once' },
  DELETION_DISABLED: { message: 'deletion is disabled on this registry', meaning: 'registry.deleteEnabled is false' },

  // --- requests (the protocol level)
  ENDPOINT_NOT_FOUND: { message: 'no such endpoint', meaning: 'the path names no route of the API' },
  METHOD_NOT_ALLOWED: { message: 'method not allowed on this endpoint', meaning: 'the route exists but not with this method (the error lists those allowed)' },
  INPUT_INVALID: { message: 'invalid input', meaning: 'a parameter, field or body value breaks a rule (the error may name the field)' },
  REQUEST_MALFORMED: { message: 'malformed request', meaning: 'the HTTP request itself cannot be read (URL, JSON body, Content-Length)' },
  PAYLOAD_TOO_LARGE: { message: 'request body too large', meaning: 'the request body exceeds the limit of its endpoint' },
  URI_TOO_LONG: { message: 'request URI too long', meaning: 'a path parameter exceeds the router\'s length limit' },
  UNSUPPORTED_MEDIA_TYPE: { message: 'unsupported media type', meaning: 'the request body\'s Content-Type is not one the endpoint takes' },
  REQUEST_ABORTED: { message: 'request aborted', meaning: 'the client went away before the request was complete' },
  SERVICE_UNKNOWN: { message: 'unknown service', meaning: 'a token was asked for a service other than this registry\'s auth.service' },

  // --- who is calling, and what they may do
  AUTHENTICATION_REQUIRED: { message: 'authentication required', meaning: 'the request needs credentials, or a token with (more) scope (a /v2 challenge says where to get one)' },
  CREDENTIALS_INVALID: { message: 'invalid credentials', meaning: 'the user name, password, access token or one-time code is wrong' },
  AUTH_SCHEME_UNSUPPORTED: { message: 'unsupported authorization scheme', meaning: 'the Authorization header uses a scheme this endpoint does not take' },
  TOKEN_INVALID: { message: 'invalid token', meaning: 'a bearer or refresh token is expired, revoked, malformed or not Berth\'s' },
  ACCESS_TOKEN_REQUIRED: { message: 'the account has a second factor: log in with a personal access token as the password', meaning: 'a password login of an account with a second factor, from a client that cannot send a one-time code' },
  SECOND_FACTOR_REQUIRED: { message: 'a one-time code from the authenticator app is required', meaning: 'the password was right and the account needs its one-time code too' },
  SECOND_FACTOR_NOT_STARTED: { message: 'no enrollment in progress: start one first', meaning: 'a second factor was confirmed without an enrollment in progress' },
  LOGIN_LOCKED: { message: 'too many failed attempts; try again later', meaning: 'the account or the client address is locked out after failed logins (the error says for how long)' },
  CSRF_FAILED: { message: 'missing or wrong X-CSRF-Token header for a session request', meaning: 'a state-changing session request lacks its CSRF token' },
  DENIED: { message: 'requested access to the resource is denied', meaning: 'the caller is known and may not do this' },
  DATABASE_UNAVAILABLE: { message: 'the metadata database cannot take writes now; try again later', meaning: 'the database is locked by another process past the lock timeout, read-only, or failing; not the client\'s fault' },
  STORAGE_FULL: { message: 'the registry\'s storage is full', meaning: 'the disk (or quota) under the blob store or the database has no space left; an operator must free some' },
  STORAGE_UNAVAILABLE: { message: 'the registry\'s storage cannot take writes now; try again later', meaning: 'the filesystem under the blob store is read-only or failing; not the client\'s fault' },
  AUDIT_UNAVAILABLE: { message: 'the audit record of this request cannot be written, and audit.failClosed refuses what is not on record; try again later', meaning: 'neither the audit spool (its disk) nor the metadata database can take records; the detail names both causes' },
  DIRECTORY_UNAVAILABLE: { message: 'the user directory cannot be reached; try again later', meaning: 'LDAP / Active Directory is down or misconfigured; not the client\'s fault' },

  // --- managed objects (users, organizations, teams, robots, tokens, webhooks, runs)
  NOT_FOUND: { message: 'not found', meaning: 'the named user, organization, team, robot, token, webhook, delivery or run does not exist' },
  SCAN_PENDING: { message: 'the image has no catalogue yet', meaning: 'an SBOM or report was asked of an image not scanned yet (or whose scan failed); its scan state says which' },
  CONFLICT: { message: 'the change conflicts with the current state', meaning: 'a name is taken, the last administrator would go, repositories remain, and the like' },

  // --- anything else
  INTERNAL: { message: 'internal error', meaning: 'an unexpected failure; the log has it under the request id' },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Every code, in catalogue order. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];
