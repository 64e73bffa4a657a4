// Package upload keeps the evidence files people attach in the chat
// (CONTRACT §7, §3): a tus 1.0.0 endpoint that a phone on a dropping
// network can resume on any instance, the checks a file passes before a
// claim may carry it, and signed links through which the backend fetches
// it. The server mounts Handler and Files; the engine calls Check and Keep
// when a person attaches a file; the outbox asks Link for each attachment;
// retention calls Delete and a ticker calls Sweep.
//
// # The protocol
//
// tusd (github.com/tus/tusd/v2, MIT) is used as a library: its handler
// speaks tus core, creation and termination, answers 413 above MaxSize,
// stores partial uploads and knows their offsets; writing that again would
// only add bugs. Download and concatenation are off (files leave through
// signed links only), and so is CORS (the chat page is same-origin).
//
// tusd's hooks see only the creation of an upload, so ownership is checked
// in front of it: Config.Auth names the user of every request (401 when
// none), creation records that user in the upload's metadata (replacing
// whatever a client sent under that key, and dropping other keys), and any
// request on an upload — HEAD, PATCH, DELETE, a POST with
// X-HTTP-Method-Override — by anyone else answers 404, exactly as an
// unknown upload does. An owner never changes, so it is cached per
// instance. No ResponseWriter is wrapped, so tusd's use of
// http.ResponseController (read deadlines, flushing) reaches the server's
// writer; a middleware the server puts in front must implement Unwrap.
//
// # Storage and the lock
//
// Config.Storage is CLAIMBOT_UPLOADS: a folder (tusd's filestore) or
// s3://bucket[/prefix] (tusd's s3store on aws-sdk-go-v2, configured by the
// SDK's standard chain: AWS_ENDPOINT_URL_S3, AWS_REGION, keys; path-style
// addressing when a custom endpoint is set, as S3-compatible servers
// expect). tusd ships no lock that works across machines, and without one
// a phone resuming on instance B while A still holds its dropped PATCH
// reads a stale offset or interleaves two writers. Locker implements
// tusd's handler.Locker on Redis (any redis.UniversalClient, a Cluster
// too): SET NX PX with renewal every second, release by token through a
// compare-and-delete script, and a "please let go" key that the holder
// sees at its next renewal and turns into tusd's requestUnlock, so the
// stale request ends in about a second rather than at the timeout.
//
// # What a file must be
//
// The type is decided by the bytes (github.com/gabriel-vasile/mimetype,
// MIT: pure Go, no cgo, knows PDF, JPEG, PNG and HEIC), never by the name
// or the client's filetype. When the last byte arrives, before the client
// hears so, the file is sniffed; a refused type answers 415 and its bytes
// are deleted at once, its record staying (marked refused) so that Check
// says ErrType. That decision is made once: serving a file later never
// judges it again by the types accepted that day (a restart with other
// flows leaves retained claims' links working).
//
// A JPEG loses its location before it is kept: the GPS IFD of its EXIF is
// emptied and an XMP segment (which may repeat the location) becomes a
// comment of zeros, in place and at the same length. The orientation and
// the rest of EXIF stay, so a photo of a document still shows the right
// way up; keeping the length keeps the file valid in tusd's eyes (a
// shorter file would look unfinished). A JPEG whose metadata cannot be
// read within its first MiB is refused rather than kept with a location.
// HEIC keeps its metadata: its EXIF sits in an ISO-BMFF item that cannot be
// emptied without rewriting the container, and phone browsers mostly turn
// HEIC into JPEG when a page's accept asks for image/jpeg; a flow that
// must never hold a location can leave image/heic out of its types.
//
// The SHA-256 of the kept bytes is taken then too, and the result (owner,
// name, size, type, digest) is recorded in Redis; Info recomputes it from
// the storage should Redis lose it.
//
// # Links and lifetime
//
// Link gives PublicURL + FilesPath + id + ?sig=, an HMAC-SHA256 over the id
// (and an expiry when asked), so the backend fetches a file with a plain
// GET; Files serves it as an attachment of the sniffed type with nosniff
// and a sandboxing CSP. A changed link answers 403, a deleted file's 404.
// Without an expiry a link lives as long as the file, which Delete ends at
// the claim's retention. Keep marks a file as a claim's: Check refuses it to
// any other claim (ErrKept), and Keep of a file already gone fails, so no
// claim goes out with a dead link. An upload no claim kept is deleted by
// Sweep once Config.Unattached (the session's idle expiry) has passed since
// its creation or since the last turn of a session holding it (Touch).
// Sweep takes due uploads off its list in one step and marks a record
// before deleting, so a Touch or Keep that comes first wins; a file the
// storage will not delete is tried again after a lease, and the others go
// on. tus termination (DELETE) of a finished upload answers 409: it may be
// attached, and it leaves with the sweep or its claim's retention.
package upload
