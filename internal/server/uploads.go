package server

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/upload"
)

// Evidence uploads (CONTRACT §7): one upload.Service per instance, its tus
// handler at /uploads/ and its signed links at /files/, a file frame
// looked up by it before the turn (ws.go), and a ticker sweeping the
// uploads that no claim kept.

// linksInfo labels the key that signs evidence links, so it is no other
// key derived from the same secret.
const linksInfo = "claimbot evidence links v1"

// LinksSecret is the key that signs evidence links (upload.Config.Secret):
// HKDF-SHA256 (RFC 5869) of the webhook signing secret's bytes, with the
// label linksInfo, 32 bytes. Every instance has the webhook secret, so
// every instance signs and checks the same links, across restarts too;
// and the one party that holds that secret besides us is the claims
// backend, which the links are for anyway. The banner secret is the
// messenger's, which has no business reading evidence: it is not used.
// Dev mode without CLAIMBOT_WEBHOOK_SECRET signs webhooks with a secret
// of the run, and so its links last as long as the run.
func LinksSecret(webhookSecret []byte) []byte {
	key, err := hkdf.Key(sha256.New, webhookSecret, nil, linksInfo, 32)
	if err != nil {
		panic("server: hkdf: " + err.Error()) // only for a length over 255 hashes
	}
	return key
}

// uploadsPath is where the tus handler is mounted: where replies tell
// the page to upload.
const uploadsPath = engine.UploadPath

// filesPath is where the signed links are served.
const filesPath = "/files/"

// asksFiles reports whether a loaded flow asks for files.
func asksFiles(e *engine.Engine) bool {
	for _, f := range e.Flows() {
		if f.FilesState != "" {
			return true
		}
	}
	return false
}

// fileLimits are the largest Upload-Length and the types that the loaded
// flows accept: the service's own limits, which each flow narrows at
// attach time. With no flow asking for files, the package's defaults.
func fileLimits(e *engine.Engine) (maxSize int64, types []string) {
	for _, f := range e.Flows() {
		if f.FilesState == "" {
			continue
		}
		fs := f.States[f.FilesState].Files
		maxSize = max(maxSize, fs.MaxBytes)
		for _, t := range fs.Accept {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	if maxSize == 0 {
		maxSize = upload.DefaultMaxSize
	}
	if len(types) == 0 {
		types = upload.DefaultTypes
	}
	return maxSize, types
}

// newUploads builds the instance's upload service on the server's Redis
// client and metrics, authenticating every request exactly as /ws does.
func (s *Server) newUploads(ctx context.Context, storage, publicURL string, secret []byte) (*upload.Service, error) {
	maxSize, types := fileLimits(s.engine())
	return upload.New(ctx, upload.Config{
		Storage: storage, BasePath: uploadsPath, FilesPath: filesPath, PublicURL: publicURL,
		Secret: secret, MaxSize: maxSize, Types: types, Unattached: s.cfg.SessionTTL,
		Redis: s.rdb, Auth: s.uploadUser, Metrics: s.metrics.Registry, Logger: s.log.With("component", "uploads"),
	})
}

// SetUploads makes svc the service that file frames are looked up by and
// that /uploads/ and /files/ serve; before Handler is called. nil: uploads
// are off (production with no CLAIMBOT_UPLOADS and no flow asking for
// files): those paths are not found and a file frame is refused.
func (s *Server) SetUploads(svc *upload.Service) { s.uploads = svc }

// fileLink is a claim's file's link in its webhook body: signed, without
// expiry (it ends when the claim's retention deletes the file).
func (s *Server) fileLink(id string) string {
	if s.uploads == nil {
		return ""
	}
	return s.uploads.Link(id, time.Time{})
}

// Uploads is the upload service, nil when uploads are off.
func (s *Server) Uploads() *upload.Service { return s.uploads }

// uploadUser is upload.Config.Auth: the user of /ws's authentication (the
// session cookie, ?t=<token>, dev mode's ?user=).
func (s *Server) uploadUser(r *http.Request) (string, bool) {
	id, _, status := s.authenticate(r)
	return id.User, status == 0 && id.User != ""
}

// uploadRoutes guards the tus handler as /ws is guarded: a foreign
// Origin is refused (403) before anything else. It wraps no
// ResponseWriter, so tusd's http.ResponseController (read deadlines,
// flushing) reaches the server's. Uploads take none of the WebSocket
// limits (sockets per user, frame rate): a PATCH is no frame.
func (s *Server) uploadRoutes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.originAllowed(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fileFrameBudget is the one deadline a file frame's lookup and its turn
// share, from the frame's start: the store's own turn deadline (1.2 s),
// so that with the batcher's slack (a third of it) a file frame answers
// as soon as any other frame, well within the contract's 2 s.
const fileFrameBudget = 1200 * time.Millisecond

// resolveTimeout bounds the lookup of a file frame's upload (one Redis
// read, or the storage's for a record Redis lost), within
// fileFrameBudget: the turn gets what remains.
const resolveTimeout = 300 * time.Millisecond

// resolve looks up the upload a file frame names for user, under the
// limits of the files question the connection last showed; other inputs
// pass as they are. An error means the lookup could not be made (Redis
// or the storage unreachable): nothing may be applied.
func (s *Server) resolve(ctx context.Context, in *engine.Input, user string, lim upload.Limits) error {
	if in.Kind != engine.Attach {
		return nil
	}
	if s.uploads == nil {
		in.File, in.Problem = nil, engine.ProblemNoFiles
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	return s.uploads.Resolve(ctx, in, user, lim)
}

// touchFiles keeps the files that an applied turn's session holds (not
// yet any claim's) as long as the session lives: the sweep deletes an
// unattached file a session TTL after its session's last turn, not after
// its creation. In the background, off the turn's path; a lost Touch
// costs nothing until the session outlives the file's previous sweep time,
// and the next turn's Touch makes up for it.
func (s *Server) touchFiles(sess *engine.Session) {
	if s.uploads == nil || sess == nil || len(sess.Files) == 0 {
		return
	}
	ids := make([]string, len(sess.Files))
	for i, f := range sess.Files {
		ids[i] = f.ID
	}
	until := time.Now().Add(s.cfg.SessionTTL)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.uploads.Touch(ctx, ids, until); err != nil {
			s.log.Warn("uploads: could not push the sweep of a session's files", "err", err, "files", len(ids))
		}
	}()
}

// keepFiles marks the files that went with a claim (or were added to a
// filed one) as kept, so the sweep of unattached uploads leaves them;
// they stay until the claim's retention deletes them. It runs after the
// turn that filed them, retrying a while in the background when Redis
// does not answer: until it succeeds the files are only as safe as an
// unattached upload, which lives a whole session TTL from its creation.
func (s *Server) keepFiles(files []engine.Attachment) {
	if s.uploads == nil || len(files) == 0 {
		return
	}
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.ID
	}
	go func() {
		wait := 200 * time.Millisecond
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var failed []string
			for _, id := range ids {
				err := s.uploads.Keep(ctx, id)
				switch {
				case errors.Is(err, upload.ErrUnknown):
					// Gone (swept, or deleted): trying again cannot bring
					// it back; the sender's own Keep stops the claim.
					s.log.Error("uploads: a claim's file is gone before it could be kept")
				case err != nil:
					failed = append(failed, id)
				}
			}
			cancel()
			if ids = failed; len(ids) == 0 {
				return
			}
			if try == 20 {
				s.log.Error("uploads: could not mark a claim's files as kept; the sweep may delete them once their session expires",
					"files", len(ids))
				return
			}
			time.Sleep(wait)
			wait = min(2*wait, 30*time.Second)
		}
	}()
}

// sweepEvery is how often each instance sweeps; every instance sweeps
// (Sweep is safe to run anywhere at once), jittered so they do not all
// hit Redis in the same second.
const sweepEvery = time.Minute

// Sweeper runs the periodic deletions of evidence files.
type Sweeper struct {
	Uploads *upload.Service
	// ClaimFiles deletes the files of claims whose retention has passed
	// (the outbox's SweepFiles); nil: not yet wired. It runs on the same
	// tick as the sweep of unattached uploads.
	ClaimFiles func(ctx context.Context, now time.Time) (int, error)
	Log        *slog.Logger
	Every      time.Duration // 0: sweepEvery
}

// Run sweeps until ctx ends: first after a random part of the period,
// then every period ± 10%.
func (sw *Sweeper) Run(ctx context.Context) {
	every := sw.Every
	if every <= 0 {
		every = sweepEvery
	}
	t := time.NewTimer(rand.N(every) + 1)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sw.Once(ctx, time.Now())
		t.Reset(every*9/10 + rand.N(every/5+1))
	}
}

// Once sweeps once: the uploads that no claim kept within the session TTL
// of their creation (up to 100 a call, so a backlog drains over a few
// ticks), then ClaimFiles.
func (sw *Sweeper) Once(ctx context.Context, now time.Time) {
	if sw.Uploads != nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := sw.Uploads.Sweep(sctx, now)
		cancel()
		if err != nil {
			sw.Log.Warn("uploads: sweep of unattached files failed; the next tick tries again", "err", err, "deleted", n)
		} else if n > 0 {
			sw.Log.Info("uploads: deleted unattached files of expired sessions", "deleted", n)
		}
	}
	if sw.ClaimFiles != nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := sw.ClaimFiles(sctx, now)
		cancel()
		if err != nil {
			sw.Log.Warn("uploads: sweep of claims' files past retention failed; the next tick tries again", "err", err, "deleted", n)
		} else if n > 0 {
			sw.Log.Info("uploads: deleted files of claims past retention", "deleted", n)
		}
	}
}
