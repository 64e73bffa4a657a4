package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Link is the URL at which a plain GET, with no other credential, returns
// the file: PublicURL + FilesPath + id + ?sig=…, the signature an
// HMAC-SHA256 over the id (and the expiry when one is given). With a zero
// expires the link works until Delete, which is how a claim's files follow
// its retention; otherwise also until expires.
func (s *Service) Link(id string, expires time.Time) string {
	q := url.Values{}
	var exp string
	if !expires.IsZero() {
		exp = strconv.FormatInt(expires.Unix(), 10)
		q.Set("exp", exp)
	}
	q.Set("sig", s.sign(id, exp))
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + s.cfg.FilesPath + url.PathEscape(id) + "?" + q.Encode()
}

func (s *Service) sign(id, exp string) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	io.WriteString(m, "claimbot-file-v1\x00"+id+"\x00"+exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Files serves Link's URLs; mount it at Config.FilesPath. A link changed in
// any way answers 403, one whose file is gone 404.
func (s *Service) Files() http.Handler {
	base := strings.TrimSuffix(s.cfg.FilesPath, "/")
	return http.StripPrefix(base, http.HandlerFunc(s.serveFile))
}

func (s *Service) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/")
	q := r.URL.Query()
	exp := q.Get("exp")
	want := s.sign(id, exp)
	if len(q) > 2 || (exp == "" && len(q) > 1) || !hmac.Equal([]byte(q.Get("sig")), []byte(want)) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if exp != "" {
		t, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || time.Now().Unix() > t {
			http.Error(w, "link expired", http.StatusForbidden)
			return
		}
	}
	f, err := s.Info(r.Context(), id)
	// A refused file's fate was decided as its bytes arrived; an accepted
	// one is served whatever types are accepted today.
	if errors.Is(err, ErrUnknown) || (err == nil && (!f.Done || f.Refused)) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("upload: serving a file failed", "err", err)
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	up, err := s.st.store().GetUpload(r.Context(), id)
	var body io.ReadCloser
	if err == nil {
		body, err = up.GetReader(r.Context())
	}
	if errors.Is(err, handler.ErrNotFound) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("upload: serving a file failed", "err", err)
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", f.Type)
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": f.Name})
	if disp == "" {
		disp = "attachment" // a name it cannot encode: the bytes still come as a download
	}
	h.Set("Content-Disposition", disp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, body)
}
