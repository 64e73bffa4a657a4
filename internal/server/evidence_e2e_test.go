package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/upload/s3test"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

// evidenceBody is what the e2e test reads of a webhook body.
type evidenceBody struct {
	Type string `json:"type"`
	Data struct {
		ClaimID     string         `json:"claim_id"`
		UserID      string         `json:"user_id"`
		Answers     map[string]any `json:"answers"`
		Attachments []struct {
			ID, Name, Type, SHA256, URL string
			Size                        int64
		} `json:"attachments"`
	} `json:"data"`
}

// withPublicAddr makes the server listen on a port picked here and name it
// as CLAIMBOT_PUBLIC_URL, so the links in its webhooks open it.
func withPublicAddr(c *config.Config) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	c.Addr = ln.Addr().String()
	ln.Close()
	c.PublicURL = "http://" + c.Addr
}

// waitEvent waits for the receiver to accept an event of that type for
// that claim and returns its body.
func waitEvent(t *testing.T, recv *webhooktest.Receiver, typ, claimID string) evidenceBody {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range recv.Accepted() {
			var b evidenceBody
			if json.Unmarshal(a.Body, &b) == nil && b.Type == typ && b.Data.ClaimID == claimID {
				return b
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s for claim %s delivered", typ, claimID)
	return evidenceBody{}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// TestEvidenceEndToEnd is issue 14's must-show, on a folder and on a real
// S3-compatible server (versitygw), with two server instances sharing
// Redis and the storage: a 12 MiB PDF uploaded in chunks, the connection
// dropped half way and the upload resumed from HEAD's offset on the other
// instance, attached, the claim filed, the webhook's sha256 matching, the
// URL serving the same bytes, a changed URL refused; another user's HEAD
// and PATCH 404; an HTML page named .pdf refused; Upload-Length over the
// limit 413; the file past max_files refused; later, then files added by
// the returning user, posts claim.evidence_added.
func TestEvidenceEndToEnd(t *testing.T) {
	for _, storage := range []string{"folder", "s3"} {
		t.Run(storage, func(t *testing.T) {
			uploads := t.TempDir()
			if storage == "s3" {
				s3 := s3test.Start(t)
				s3.Env(t)
				uploads = "s3://" + s3.Bucket + "/evidence"
			}
			a := startEnv(t, withPublicAddr, func(c *config.Config) { c.Uploads = uploads })
			cfg := *a.cfg
			cfg.Addr = "127.0.0.1:0"
			b := &env{t: t, redis: a.redis, recv: a.recv, cfg: &cfg, secret: a.secret}
			b.start()

			const user = "e2e-owner"
			upA, upB := a.tus(user), b.tus(user)
			big := pdfBytes(12 << 20)
			url, code := upA.create("매출 손실 증빙.pdf", "application/pdf", int64(len(big)))
			if code != http.StatusCreated {
				t.Fatalf("create: %d", code)
			}
			upA.sendAll(url, 0, big[:5<<20], 1<<20)
			upA.dropPatch(url, 5<<20, big, 1<<20+12345) // half way, in the middle of a chunk
			// The phone comes back through the other instance.
			urlB := b.run.URL() + "/uploads/" + uploadID(url)
			off, code := upB.head(urlB)
			if code != http.StatusOK || off < 5<<20 || off >= int64(len(big)) {
				t.Fatalf("HEAD on the other instance: %d, offset %d", code, off)
			}
			// Another user finds nothing there, whichever way they ask.
			mallory := b.tus("e2e-mallory")
			if _, code := mallory.head(urlB); code != http.StatusNotFound {
				t.Errorf("another user's HEAD: %d", code)
			}
			if code := mallory.patch(urlB, off, []byte("x")); code != http.StatusNotFound {
				t.Errorf("another user's PATCH: %d", code)
			}
			upB.sendAll(urlB, off, big, 1<<20)

			// Over the limit, and a web page named .pdf.
			if _, code := upA.create("huge.pdf", "application/pdf", 20<<20+1); code != http.StatusRequestEntityTooLarge {
				t.Errorf("Upload-Length over the limit: %d", code)
			}
			html := []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
			fake, _ := upA.create("확인서.pdf", "application/pdf", int64(len(html)))
			if code := upA.patch(fake, 0, html); code != http.StatusUnsupportedMediaType {
				t.Errorf("an HTML page named .pdf: %d", code)
			}

			c := a.dial(user)
			c.toEvidence()
			if r := c.file(fake); !r.Invalid || !contains(r.Messages, "형식") || len(r.Files) != 0 {
				t.Fatalf("the HTML file frame: %+v", r)
			}
			r := c.file(url)
			if r.Invalid || len(r.Files) != 1 || r.Files[0].Size != int64(len(big)) {
				t.Fatalf("the resumed PDF: %+v", r)
			}
			for i := 0; i < 9; i++ {
				if r = c.file(upA.upload("영수증.pdf", "application/pdf", pdfBytes(2000))); r.Invalid {
					t.Fatalf("file %d: %+v", i+2, r)
				}
			}
			if r = c.file(upA.upload("열한번째.pdf", "application/pdf", pdfBytes(2000))); !r.Invalid ||
				!contains(r.Messages, "10개까지") || len(r.Files) != 10 {
				t.Fatalf("the file past max_files: %+v", r)
			}
			c.choose("done")
			filed := c.afterEvidence()
			if !filed.Done || filed.ClaimID == "" {
				t.Fatalf("submit: %+v", filed)
			}

			body := waitEvent(t, a.recv, "claim.submitted", filed.ClaimID)
			if body.Data.Answers["evidence"] != "attached" || len(body.Data.Attachments) != 10 {
				t.Fatalf("claim: evidence %v, %d attachments", body.Data.Answers["evidence"], len(body.Data.Attachments))
			}
			att := body.Data.Attachments[0]
			sum := sha256.Sum256(big)
			if att.ID != uploadID(url) || att.Name != "매출 손실 증빙.pdf" || att.Type != "application/pdf" ||
				att.Size != int64(len(big)) || att.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("attachment %+v, want sha256 %x", att, sum)
			}
			// A plain GET of the link, on either instance, is the same bytes.
			for _, base := range []string{a.run.URL(), b.run.URL()} {
				link := base + strings.TrimPrefix(att.URL, a.cfg.PublicURL)
				res, got := get(t, link)
				if res.StatusCode != http.StatusOK || !bytes.Equal(got, big) ||
					res.Header.Get("Content-Type") != "application/pdf" ||
					!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") ||
					res.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("GET %s: %d, %d bytes, headers %v", link, res.StatusCode, len(got), res.Header)
				}
			}
			for _, changed := range []string{
				flipLast(att.URL), // the signature
				strings.Replace(att.URL, att.ID, body.Data.Attachments[1].ID, 1), // another file
				strings.Split(att.URL, "?")[0],                                   // no signature
			} {
				if res, _ := get(t, changed); res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
					t.Errorf("a changed link %s: %d", changed, res.StatusCode)
				}
			}

			// Later, then the returning user adds a file to the filed claim.
			const late = "e2e-later"
			c2 := b.dial(late)
			c2.toEvidence()
			c2.choose("later")
			laterClaim := c2.afterEvidence()
			lb := waitEvent(t, a.recv, "claim.submitted", laterClaim.ClaimID)
			if lb.Data.Answers["evidence"] != "later" || len(lb.Data.Attachments) != 0 {
				t.Fatalf("the later claim: %+v", lb.Data)
			}
			c2 = a.dial(late) // back another day, on the other instance
			if !c2.last.Done || c2.last.ClaimID != laterClaim.ClaimID {
				t.Fatalf("the returning user sees %+v", c2.last)
			}
			if r = c2.choose("attach"); r.Input != "files" || r.Invalid {
				t.Fatalf("attach: %+v", r)
			}
			cert := a.tus(late).upload("소상공인 확인서.png", "image/png", pngBytes(t))
			if r = c2.file(cert); r.Invalid || len(r.Files) != 1 {
				t.Fatalf("the late file: %+v", r)
			}
			if r = c2.choose("done"); !r.Done || r.ClaimID != laterClaim.ClaimID {
				t.Fatalf("done: %+v", r)
			}
			ev := waitEvent(t, a.recv, "claim.evidence_added", laterClaim.ClaimID)
			if ev.Data.UserID != late || len(ev.Data.Attachments) != 1 || ev.Data.Attachments[0].ID != uploadID(cert) ||
				ev.Data.Attachments[0].Type != "image/png" {
				t.Fatalf("claim.evidence_added: %+v", ev.Data)
			}
			if res, got := get(t, a.run.URL()+strings.TrimPrefix(ev.Data.Attachments[0].URL, a.cfg.PublicURL)); res.StatusCode != http.StatusOK ||
				!bytes.Equal(got, pngBytes(t)) {
				t.Fatalf("the late file's link: %d", res.StatusCode)
			}
		})
	}
}

// flipLast changes a string's last character.
func flipLast(s string) string {
	last := byte('A')
	if s[len(s)-1] == 'A' {
		last = 'B'
	}
	return s[:len(s)-1] + string(last)
}
