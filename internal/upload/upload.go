package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"
)

// DefaultTypes are the types accepted when Config.Types is empty.
var DefaultTypes = []string{"application/pdf", "image/jpeg", "image/png", "image/heic"}

// Defaults of Config.
const (
	DefaultMaxSize    = 20 << 20
	DefaultUnattached = 72 * time.Hour
)

// headSize is how much of a finished file is read to decide its type and
// find its JPEG metadata (EXIF and XMP segments are at most 64 KiB each).
const headSize = 1 << 20

// ownerKey is the upload metadata key holding its creator. Whatever a
// client sends under it is replaced.
const ownerKey = "claimbot_owner"

// pendingKey is a sorted set of uploads attached to no claim yet, scored by
// when they are deleted (Sweep).
const pendingKey = "upload:pending"

// Outcomes of Check. Match them with errors.Is.
var (
	ErrUnknown    = fmt.Errorf("upload: no such upload (%w)", fs.ErrNotExist)
	ErrNotYours   = errors.New("upload: another user's upload")
	ErrUnfinished = errors.New("upload: not finished")
	ErrType       = errors.New("upload: type not accepted")
	ErrSize       = errors.New("upload: too large")
	// ErrKept: the upload already went with a claim (Keep); it is that
	// claim's, deleted under its retention, and goes with no other.
	ErrKept = errors.New("upload: already attached to a claim")
)

// sweepLease is how long Sweep leaves an upload whose deletion failed
// before it tries again.
var sweepLease = 5 * time.Minute

// Config sets up a Service.
type Config struct {
	// Storage is CLAIMBOT_UPLOADS: a folder path, or s3://bucket[/prefix]
	// with the AWS SDK's standard variables (AWS_ENDPOINT_URL_S3,
	// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
	Storage string
	// BasePath is where Handler is mounted; default "/uploads/".
	BasePath string
	// FilesPath is where Files is mounted; default "/files/".
	FilesPath string
	// PublicURL is CLAIMBOT_PUBLIC_URL, the start of every Link.
	PublicURL string
	// Secret signs links: at least 32 bytes.
	Secret []byte
	// MaxSize is the largest Upload-Length accepted (413 above it).
	MaxSize int64
	// Types are the accepted MIME types, as decided from the bytes.
	Types []string
	// Unattached is how long a file attached to no claim is kept: the
	// session's idle expiry.
	Unattached time.Duration
	// Redis holds the locks, the finished files' records and the list of
	// files to sweep.
	Redis redis.UniversalClient
	// Auth names the user of a request (the session cookie, a token, dev
	// mode's ?user=); false answers 401.
	Auth func(r *http.Request) (user string, ok bool)
	// Metrics, when set, gets the uploads' counters (started, finished,
	// refused by reason, bytes stored).
	Metrics prometheus.Registerer
	// Logger gets this package's errors, and tusd's own warnings and
	// errors without what a client sent or where from (tuslog.go).
	Logger *slog.Logger
}

// File is what is known of an upload.
type File struct {
	ID     string
	Owner  string
	Name   string // the client's file name, cleaned
	Size   int64
	Offset int64
	Done   bool
	Type   string // decided from the bytes once Done
	SHA256 string // hex, once Done
	// Refused: its type was not accepted when its bytes arrived, and the
	// bytes were deleted then. Decided once: a change of the accepted
	// types later (a restart with other flows) changes no file's fate.
	Refused bool
	// Kept: it went with a claim (Keep).
	Kept bool
}

// Limits are a flow's limits on one file, checked by Check.
type Limits struct {
	MaxSize int64    // 0: the service's MaxSize
	Types   []string // empty: the service's Types
}

// Service is the uploads of one instance: the tus handler, the signed file
// links, and the calls that the engine makes.
type Service struct {
	cfg     Config
	st      storage
	tus     *handler.Handler
	owners  *lru.Cache[string, string]
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
}

// New builds a Service; ctx bounds the loading of the storage's settings.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Redis == nil {
		return nil, errors.New("upload: no Redis")
	}
	if cfg.Auth == nil {
		return nil, errors.New("upload: no Auth")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("upload: the link secret must have at least 32 bytes")
	}
	if cfg.BasePath == "" {
		cfg.BasePath = "/uploads/"
	}
	if cfg.FilesPath == "" {
		cfg.FilesPath = "/files/"
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if len(cfg.Types) == 0 {
		cfg.Types = DefaultTypes
	}
	if cfg.Unattached <= 0 {
		cfg.Unattached = DefaultUnattached
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	st, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, st: st, log: cfg.Logger, metrics: newMetrics(cfg.Metrics)}
	s.owners, _ = lru.New[string, string](16384)

	composer := handler.NewStoreComposer()
	st.compose(composer)
	composer.UseLocker(NewLocker(cfg.Redis))
	tus, err := handler.NewHandler(handler.Config{
		StoreComposer:        composer,
		BasePath:             cfg.BasePath,
		MaxSize:              cfg.MaxSize,
		DisableDownload:      true, // files leave through signed links only
		DisableConcatenation: true,
		// The chat page is served from this origin: no cross-origin uploads.
		Cors:                       &handler.CorsConfig{Disable: true},
		Logger:                     expslog.New(&tusLog{log: cfg.Logger}),
		PreUploadCreateCallback:    s.preCreate,
		PreFinishResponseCallback:  s.preFinish,
		PreUploadTerminateCallback: s.preTerminate,
	})
	if err != nil {
		return nil, fmt.Errorf("upload: tus handler: %w", err)
	}
	s.tus = tus
	base := strings.TrimSuffix(cfg.BasePath, "/")
	s.handler = http.StripPrefix(base, http.HandlerFunc(s.serveTus))
	return s, nil
}

// Where says where files are kept, for the start-up line.
func (s *Service) Where() string { return s.st.where() }

// Limits are the service's own limits: the largest Upload-Length and the
// types it keeps. A flow may narrow them, never widen them.
func (s *Service) Limits() Limits {
	return Limits{MaxSize: s.cfg.MaxSize, Types: slices.Clone(s.cfg.Types)}
}

// Handler serves tus 1.0.0 (core, creation, termination); mount it at
// Config.BasePath (both the path and everything under it).
func (s *Service) Handler() http.Handler { return s.handler }

type userKey struct{}

// idPattern is what tusd's stores make: a hex id, for S3 joined by "+" to
// the multipart upload's id. Anything else is no upload of ours.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._~=+-]{1,512}$`)

func validID(id string) bool { return idPattern.MatchString(id) && !strings.Contains(id, "..") }

// serveTus authenticates every request and lets a request on an upload
// through only when its user created it; tusd's hooks see creation only.
func (s *Service) serveTus(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		s.tus.ServeHTTP(w, r)
		return
	}
	user, ok := s.cfg.Auth(r)
	if !ok || user == "" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	id := strings.Trim(r.URL.Path, "/")
	if id != "" {
		owner, err := s.owner(r.Context(), id)
		switch {
		case err == nil && owner != user:
			s.metrics.refuse(reasonNotYours)
			fallthrough
		case errors.Is(err, ErrUnknown):
			// Someone else's upload looks exactly like none at all.
			http.Error(w, "upload not found", http.StatusNotFound)
			return
		case err != nil:
			s.log.Error("upload: owner lookup failed", "err", err)
			http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if id == "" && r.Method == http.MethodPost {
		if n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64); err == nil && n > s.cfg.MaxSize {
			s.metrics.refuse(reasonSize) // tusd answers 413
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	s.tus.ServeHTTP(w, r)
	if id == "" && r.Method == http.MethodPost {
		if loc := w.Header().Get("Location"); loc != "" {
			s.metrics.start()
			s.pend(r.Context(), strings.Trim(path.Base(loc), "/"))
		}
	}
}

// pend lists a new upload for the sweep until a claim keeps it.
func (s *Service) pend(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	at := float64(time.Now().Add(s.cfg.Unattached).Unix())
	if err := s.cfg.Redis.ZAdd(ctx, pendingKey, redis.Z{Score: at, Member: id}).Err(); err != nil {
		s.log.Warn("upload: listing an upload for the sweep failed", "err", err)
	}
}

// owner is the creator of an upload; it never changes, so it is cached.
func (s *Service) owner(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", ErrUnknown
	}
	if o, ok := s.owners.Get(id); ok {
		return o, nil
	}
	info, err := s.storeInfo(ctx, id)
	if err != nil {
		return "", err
	}
	o := info.MetaData[ownerKey]
	if o == "" {
		return "", ErrUnknown
	}
	s.owners.Add(id, o)
	return o, nil
}

func (s *Service) storeInfo(ctx context.Context, id string) (handler.FileInfo, error) {
	up, err := s.st.store().GetUpload(ctx, id)
	if err != nil {
		return handler.FileInfo{}, notFound(err)
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return handler.FileInfo{}, notFound(err)
	}
	return info, nil
}

func notFound(err error) error {
	if errors.Is(err, handler.ErrNotFound) {
		return ErrUnknown
	}
	return fmt.Errorf("upload: storage: %w", err)
}

// preCreate records the creator and keeps only the metadata this package
// knows: a client cannot name an owner or anything else.
func (s *Service) preCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	user, _ := ev.Context.Value(userKey{}).(string)
	if user == "" {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, handler.NewError("ERR_UNAUTHORIZED", "unauthorized", http.StatusUnauthorized)
	}
	md := handler.MetaData{ownerKey: user, "filename": cleanName(ev.Upload.MetaData["filename"])}
	if t := ev.Upload.MetaData["filetype"]; t != "" && len(t) < 128 {
		md["filetype"] = t // the client's word only; Type comes from the bytes
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{MetaData: md}, nil
}

// preTerminate refuses the termination (tus DELETE) of a finished
// upload: it may be attached to a session's question or a claim, whose
// link must keep working; it goes with the sweep or the claim's retention.
// An unfinished upload may be terminated.
func (s *Service) preTerminate(ev handler.HookEvent) (handler.HTTPResponse, error) {
	if info := ev.Upload; !info.SizeIsDeferred && info.Offset >= info.Size {
		return handler.HTTPResponse{}, handler.NewError("ERR_UPLOAD_FINISHED", "a finished upload cannot be deleted", http.StatusConflict)
	}
	return handler.HTTPResponse{}, nil
}

// cleanName keeps the last path element of a client's file name, valid
// UTF-8 without control characters, at most 200 bytes.
func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	for len(name) > 200 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

// preFinish runs when the last byte arrived, before the client hears so:
// the type is decided, a JPEG loses its location, the digest is taken. A
// refused type answers 415 and its bytes are deleted at once; its record
// stays (until Unattached) so that Check can say why.
func (s *Service) preFinish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	f, err := s.process(ev.Context, ev.Upload)
	if err != nil {
		s.log.Error("upload: finishing failed", "err", err)
		return handler.HTTPResponse{}, handler.NewError("ERR_UPLOAD_FINISH", "the file could not be checked", http.StatusInternalServerError)
	}
	if f.Refused {
		if err := s.terminate(context.WithoutCancel(ev.Context), f.ID); err != nil {
			s.log.Error("upload: deleting a refused file failed", "err", err)
		}
		s.metrics.refuse(reasonType)
		return handler.HTTPResponse{}, handler.NewError("ERR_UPLOAD_TYPE", "this type of file is not accepted", http.StatusUnsupportedMediaType)
	}
	s.metrics.finish(f.Size)
	return handler.HTTPResponse{}, nil
}

func recordKey(id string) string { return "upload:{" + id + "}:file" }

// process decides a finished upload's type, strips a JPEG's location and
// takes the digest, and records the result in Redis.
func (s *Service) process(ctx context.Context, info handler.FileInfo) (File, error) {
	f := File{ID: info.ID, Owner: info.MetaData[ownerKey], Name: info.MetaData["filename"],
		Size: info.Size, Offset: info.Offset, Done: true}
	up, err := s.st.store().GetUpload(ctx, info.ID)
	if err != nil {
		return f, notFound(err)
	}
	rd, err := up.GetReader(ctx)
	if err != nil {
		return f, notFound(err)
	}
	head := make([]byte, min(info.Size, headSize))
	if _, err := io.ReadFull(rd, head); err != nil {
		rd.Close()
		return f, fmt.Errorf("upload: read: %w", err)
	}
	f.Type = baseType(mimetype.Detect(head).String())
	if f.Type == "image/jpeg" {
		changed, err := stripGPS(head)
		if err != nil {
			// Location may remain: refuse rather than keep it.
			f.Type = "image/jpeg; unreadable"
		} else if changed {
			rd.Close()
			if err := s.st.rewriteHead(ctx, info, head); err != nil {
				return f, err
			}
			if rd, err = up.GetReader(ctx); err != nil {
				return f, notFound(err)
			}
			if _, err := io.CopyN(io.Discard, rd, int64(len(head))); err != nil {
				rd.Close()
				return f, fmt.Errorf("upload: read: %w", err)
			}
		}
	}
	h := sha256.New()
	h.Write(head)
	n, err := io.Copy(h, rd)
	rd.Close()
	if err != nil {
		return f, fmt.Errorf("upload: read: %w", err)
	}
	if int64(len(head))+n != info.Size {
		return f, fmt.Errorf("upload: read %d bytes of %d", int64(len(head))+n, info.Size)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	key := recordKey(f.ID)
	pipe := s.cfg.Redis.TxPipeline()
	// Whether the type is accepted is decided here, once, as the bytes
	// arrive (a refused file's bytes are deleted next); serving a file
	// later never judges it again by the types of that day.
	f.Refused = !slices.Contains(s.cfg.Types, f.Type)
	refused := "0"
	if f.Refused {
		refused = "1"
	}
	pipe.HSet(ctx, key, "owner", f.Owner, "name", f.Name, "size", f.Size, "type", f.Type, "sha256", f.SHA256, "refused", refused)
	pipe.Expire(ctx, key, s.cfg.Unattached)
	if _, err := pipe.Exec(ctx); err != nil {
		return f, fmt.Errorf("upload: record: %w", err)
	}
	return f, nil
}

func baseType(t string) string {
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(t)
}

// Info is what is known of an upload: ErrUnknown when there is none (or it
// was deleted). A finished upload has its Type and SHA256.
func (s *Service) Info(ctx context.Context, id string) (File, error) {
	if !validID(id) {
		return File{}, ErrUnknown
	}
	m, err := s.cfg.Redis.HGetAll(ctx, recordKey(id)).Result()
	if err != nil {
		return File{}, fmt.Errorf("upload: record: %w", err)
	}
	if m["gone"] != "" {
		return File{}, ErrUnknown // being deleted by the sweep
	}
	if len(m) > 0 && m["sha256"] != "" {
		size, _ := strconv.ParseInt(m["size"], 10, 64)
		return File{ID: id, Owner: m["owner"], Name: m["name"], Size: size, Offset: size, Done: true,
			Type: m["type"], SHA256: m["sha256"], Refused: m["refused"] == "1", Kept: m["kept"] != ""}, nil
	}
	info, err := s.storeInfo(ctx, id)
	if err != nil {
		return File{}, err
	}
	if info.MetaData[ownerKey] == "" {
		return File{}, ErrUnknown
	}
	if info.SizeIsDeferred || info.Offset < info.Size {
		return File{ID: id, Owner: info.MetaData[ownerKey], Name: info.MetaData["filename"],
			Size: info.Size, Offset: info.Offset}, nil
	}
	// Finished, but the record is gone (Redis lost it): do it again; a
	// JPEG already stripped is left as it is.
	return s.process(ctx, info)
}

// Check is Info for attaching an upload to user's claim under lim: it
// answers ErrUnknown, ErrNotYours, ErrUnfinished, ErrType or ErrSize
// (wrapped; match with errors.Is) for anything that must not be attached.
func (s *Service) Check(ctx context.Context, id, user string, lim Limits) (File, error) {
	f, err := s.check(ctx, id, user, lim)
	switch {
	case errors.Is(err, ErrUnknown):
		s.metrics.refuse(reasonUnknown)
	case errors.Is(err, ErrNotYours):
		s.metrics.refuse(reasonNotYours)
	case errors.Is(err, ErrUnfinished):
		s.metrics.refuse(reasonUnfinished)
	case errors.Is(err, ErrType):
		s.metrics.refuse(reasonType)
	case errors.Is(err, ErrSize):
		s.metrics.refuse(reasonSize)
	case errors.Is(err, ErrKept):
		s.metrics.refuse(reasonKept)
	}
	return f, err
}

func (s *Service) check(ctx context.Context, id, user string, lim Limits) (File, error) {
	f, err := s.Info(ctx, id)
	if err != nil {
		return File{}, err
	}
	if f.Owner != user {
		return File{}, ErrNotYours
	}
	if !f.Done {
		return f, ErrUnfinished
	}
	if f.Kept {
		return f, ErrKept
	}
	types := lim.Types
	if len(types) == 0 {
		types = s.cfg.Types
	}
	if f.Refused || !slices.Contains(types, f.Type) || !slices.Contains(s.cfg.Types, f.Type) {
		return f, fmt.Errorf("%w: %s", ErrType, f.Type)
	}
	max := lim.MaxSize
	if max <= 0 || max > s.cfg.MaxSize {
		max = s.cfg.MaxSize
	}
	if f.Size > max {
		return f, fmt.Errorf("%w: %d bytes, at most %d", ErrSize, f.Size, max)
	}
	return f, nil
}

// keepScript marks a finished upload's record as kept and makes it
// permanent; 0 when there is no record (deleted, swept, or never
// finished), or the sweep is deleting it.
// KEYS: record.
var keepScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'sha256') == 0 or redis.call('HEXISTS', KEYS[1], 'gone') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'kept', '1')
redis.call('PERSIST', KEYS[1])
return 1
`)

// Keep marks an upload as attached to a claim: Sweep leaves it alone, it
// stays until Delete (the claim's retention), and Check refuses it to any
// other claim (ErrKept). Keeping it again is no error. It answers
// ErrUnknown when the upload's record is gone: the file is deleted, or
// being deleted, and a claim must not go out with its link.
func (s *Service) Keep(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrUnknown
	}
	// The record first: from then on the sweep, which marks the record
	// before it deletes anything, leaves the file alone.
	n, err := keepScript.Run(ctx, s.cfg.Redis, []string{recordKey(id)}).Int()
	if err != nil {
		return fmt.Errorf("upload: keep: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("upload: keep %w", ErrUnknown)
	}
	if err := s.cfg.Redis.ZRem(ctx, pendingKey, id).Err(); err != nil {
		return fmt.Errorf("upload: keep: %w", err)
	}
	return nil
}

// Touch pushes the sweep of uploads still unattached to any claim to
// until at the earliest: the files a session holds live as long as the
// session does, however long it is kept alive. Call it after each turn
// of a session that holds files, with until = now + the session TTL.
// Kept uploads and unknown ids are left as they are.
func (s *Service) Touch(ctx context.Context, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	score := float64(until.Unix())
	pipe := s.cfg.Redis.Pipeline()
	for _, id := range ids {
		if !validID(id) {
			continue
		}
		pipe.ZAddArgs(ctx, pendingKey, redis.ZAddArgs{XX: true, GT: true, Members: []redis.Z{{Score: score, Member: id}}})
		// A kept record has no expiry, and GT leaves it so.
		pipe.Do(ctx, "pexpireat", recordKey(id), until.UnixMilli(), "GT")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("upload: touch: %w", err)
	}
	return nil
}

// Delete removes an upload's bytes and record; its links answer 404 from
// then on. Deleting an unknown upload is no error.
func (s *Service) Delete(ctx context.Context, id string) error {
	if validID(id) {
		if err := s.terminate(ctx, id); err != nil {
			return err
		}
	}
	pipe := s.cfg.Redis.Pipeline()
	pipe.Del(ctx, recordKey(id))
	pipe.ZRem(ctx, pendingKey, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("upload: delete: %w", err)
	}
	return nil
}

// terminate deletes an upload's bytes; its record, if any, stays.
func (s *Service) terminate(ctx context.Context, id string) error {
	s.owners.Remove(id)
	up, err := s.st.store().GetUpload(ctx, id)
	if err == nil {
		err = s.st.terminater().AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil && !errors.Is(err, handler.ErrNotFound) {
		return fmt.Errorf("upload: delete: %w", err)
	}
	return nil
}

// sweepTakeScript takes the uploads due by now off the sweep's list, at
// most limit: reading and removing are one step, so a Touch or Keep that
// comes before it wins, and one that comes after finds the file going.
// KEYS: pending. ARGV: now (unix s), limit.
var sweepTakeScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return ids
`)

// sweepMarkScript marks a record as being deleted, unless a claim kept it
// (0). Info answers ErrUnknown and Keep fails from then on.
// KEYS: record.
var sweepMarkScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'kept') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'gone', '1')
redis.call('PERSIST', KEYS[1])
return 1
`)

// Sweep deletes the uploads that no claim kept by their sweep time (their
// creation, or their session's last turn (Touch), plus Config.Unattached),
// at most 100 a call; it returns how many it deleted. An upload it could
// not delete is tried again after a lease, and the others still are: the
// error joins all that failed.
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	ids, err := sweepTakeScript.Run(ctx, s.cfg.Redis, []string{pendingKey}, now.Unix(), 100).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("upload: sweep: %w", err)
	}
	var errs []error
	deleted := 0
	for _, id := range ids {
		n, err := sweepMarkScript.Run(ctx, s.cfg.Redis, []string{recordKey(id)}).Int()
		if err == nil && n == 0 {
			continue // kept meanwhile
		}
		if err == nil {
			err = s.Delete(ctx, id)
		}
		if err != nil {
			errs = append(errs, err)
			retry := float64(now.Add(sweepLease).Unix())
			if err := s.cfg.Redis.ZAddNX(ctx, pendingKey, redis.Z{Score: retry, Member: id}).Err(); err != nil {
				errs = append(errs, fmt.Errorf("upload: sweep: %w", err))
			}
			continue
		}
		deleted++
	}
	return deleted, errors.Join(errs...)
}
