package webhook

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/claimbot/claimbot/internal/privacy"
)

const (
	// devMaxClaims is how many claims the dev receiver keeps; older ones
	// are forgotten.
	devMaxClaims = 1000
	// maxBodyBytes bounds a received body; a claim is a few KiB.
	maxBodyBytes = 1 << 20
)

//go:embed devreceiver.html
var devPageHTML string

var devPage = template.Must(template.New("devreceiver").Parse(devPageHTML))

// kst is the time zone of the dev page; a fixed zone needs no tzdata.
var kst = time.FixedZone("KST", 9*60*60)

// DevReceiver stands in for the backend when no CLAIMBOT_WEBHOOK_URL is
// set. POST receives a webhook: 401 when the signature does not verify,
// 422 when the body does not match the schema, 204 for a new claim and 200
// for a webhook-id already received (it is not stored twice). GET shows
// the received claims, newest first, with personal data masked. Claims live
// in memory only; the newest 1000 are kept.
type DevReceiver struct {
	secret Secret
	log    *slog.Logger
	pseud  *privacy.Pseudonymizer // user ids on the page and in its lines

	mu     sync.Mutex
	claims []*devClaim // oldest first
	byID   map[string]*devClaim
}

type devClaim struct {
	id       string // webhook-id
	event    Event
	received time.Time
	attempts int // verified deliveries of this webhook-id
}

// NewDevReceiver returns a receiver that verifies with secret. A nil
// logger logs nowhere.
func NewDevReceiver(secret Secret, logger *slog.Logger) *DevReceiver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Dev mode has no secret to key pseudonyms with: a key of this process.
	return &DevReceiver{secret: secret, log: logger, pseud: privacy.RandomPseudonymizer(), byID: make(map[string]*devClaim)}
}

// Claims returns the stored events, oldest first. Numbers in answers are
// json.Number.
func (d *DevReceiver) Claims() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Event, len(d.claims))
	for i, c := range d.claims {
		out[i] = c.event
	}
	return out
}

func (d *DevReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		d.receive(w, r)
	case http.MethodGet, http.MethodHead:
		d.page(w)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (d *DevReceiver) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "webhook: body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "webhook: read body", http.StatusBadRequest)
		return
	}
	id := r.Header.Get(HeaderID)
	if err := d.secret.Verify(r.Header, body, time.Now()); err != nil {
		d.log.Warn("webhook: dev receiver refused a delivery", "webhook_id", id, "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	doc, err := validBody(body)
	if err != nil {
		d.log.Warn("webhook: dev receiver refused a body", "webhook_id", id, "err", err)
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	ev, err := eventOf(doc)
	if err != nil {
		d.log.Warn("webhook: dev receiver refused a body", "webhook_id", id, "err", err)
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}

	d.mu.Lock()
	c, dup := d.byID[id]
	if dup {
		c.attempts++
	} else {
		c = &devClaim{id: id, event: ev, received: time.Now(), attempts: 1}
		d.byID[id] = c
		d.claims = append(d.claims, c)
		if len(d.claims) > devMaxClaims {
			delete(d.byID, d.claims[0].id)
			d.claims = slices.Delete(d.claims, 0, 1)
		}
	}
	attempts := c.attempts
	d.mu.Unlock()

	// Under a load test it takes thousands of claims a second: build the
	// line only when it is wanted.
	if d.log.Enabled(r.Context(), slog.LevelInfo) {
		d.log.Info("webhook: dev receiver got a claim",
			"webhook_id", id,
			"claim_id", ev.Data.ClaimID,
			"flow", ev.Data.Flow.ID,
			"user", d.pseud.UserID(ev.Data.UserID),
			"attempts", attempts,
			"duplicate", dup)
	}
	if dup {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// eventOf builds the event from a body that passed the schema, without
// parsing it again: numbers in answers stay json.Number, so large amounts
// stay exact, as json.Decoder.UseNumber would leave them.
func eventOf(doc any) (Event, error) {
	obj, _ := doc.(map[string]any)
	data, _ := obj["data"].(map[string]any)
	flow, _ := data["flow"].(map[string]any)
	answers, _ := data["answers"].(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	ts, err1 := time.Parse(time.RFC3339, str(obj, "timestamp"))
	if str(obj, "type") == EventHandoffRequested {
		// Listed with the claims, under its handoff id: a person is to
		// call this user back.
		data["submitted_at"], data["claim_id"] = str(obj, "timestamp"), str(data, "handoff_id")
	}
	if str(obj, "type") == EventEvidenceAdded && data != nil {
		// Listed with the claims, under the claim's id: files for it.
		data["submitted_at"] = str(obj, "timestamp")
		flow, answers = map[string]any{}, map[string]any{}
	}
	at, err2 := time.Parse(time.RFC3339, str(data, "submitted_at"))
	if err := errors.Join(err1, err2); err != nil {
		return Event{}, fmt.Errorf("webhook: decode body: %w", err)
	}
	if data == nil || flow == nil || answers == nil {
		return Event{}, errors.New("webhook: decode body: not a claim event")
	}
	return Event{
		Type:      str(obj, "type"),
		Timestamp: ts,
		Data: Claim{
			ClaimID:     str(data, "claim_id"),
			UserID:      str(data, "user_id"),
			Locale:      str(data, "locale"),
			Flow:        Flow{ID: str(flow, "id"), Version: str(flow, "version")},
			SubmittedAt: at,
			Answers:     answers,
			Attachments: attachmentsOf(data["attachments"]),
		},
	}, nil
}

type devPageData struct {
	Max    int
	Claims []devClaimView
}

type devClaimView struct {
	ClaimID   string
	Received  string
	Submitted string
	Flow      string
	Locale    string
	User      string
	Attempts  int
	Answers   []devAnswer
	Evidence  bool // a claim.evidence_added: files added to a filed claim
	Files     []devFile
}

// devFile is an attachment as the dev page lists it, with its signed link
// (the dev receiver plays the backend, which the links are for).
type devFile struct {
	Name, Type, Size, URL string
}

type devAnswer struct {
	Key   string
	Value string
}

func (d *DevReceiver) page(w http.ResponseWriter) {
	data := devPageData{Max: devMaxClaims}
	d.mu.Lock()
	for _, c := range slices.Backward(d.claims) {
		data.Claims = append(data.Claims, viewOf(c, d.pseud))
	}
	d.mu.Unlock()

	var buf bytes.Buffer
	if err := devPage.Execute(&buf, data); err != nil {
		d.log.Error("webhook: dev receiver page", "err", err)
		http.Error(w, "webhook: render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Write(buf.Bytes())
}

// viewOf prepares one claim for the page. Answers are masked here: personal
// data is never shown in full on a dev page.
func viewOf(c *devClaim, pseud *privacy.Pseudonymizer) devClaimView {
	data := c.event.Data
	v := devClaimView{
		ClaimID:   data.ClaimID,
		Received:  c.received.In(kst).Format("2006-01-02 15:04:05 MST"),
		Submitted: data.SubmittedAt.In(kst).Format("2006-01-02 15:04:05 MST"),
		Flow:      data.Flow.ID + "@" + data.Flow.Version,
		Locale:    data.Locale,
		User:      pseud.UserID(data.UserID),
		Attempts:  c.attempts,
	}
	v.Evidence = c.event.Type == EventEvidenceAdded
	for _, a := range data.Attachments {
		v.Files = append(v.Files, devFile{Name: a.Name, Type: a.Type, Size: fmt.Sprintf("%.1f KB", float64(a.Size)/1000), URL: a.URL})
	}
	for k, val := range privacy.MaskAnswers(data.Answers) {
		v.Answers = append(v.Answers, devAnswer{Key: k, Value: fmt.Sprint(val)})
	}
	slices.SortFunc(v.Answers, func(a, b devAnswer) int {
		ra, rb := answerRank(a.Key), answerRank(b.Key)
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return v
}

// answerOrder is the order of CONTRACT §4; other keys follow by name.
var answerOrder = []string{
	"privacy_consent", "reporter_type", "service", "damage_type", "still_file",
	"inquiry_type", "business_name", "business_number", "loss_amount",
	"support_tier", "email", "phone", "title", "content",
}

func answerRank(key string) int {
	if i := slices.Index(answerOrder, key); i >= 0 {
		return i
	}
	return len(answerOrder)
}

// attachmentsOf reads the attachments of a body that passed the schema.
func attachmentsOf(v any) []Attachment {
	list, _ := v.([]any)
	var out []Attachment
	for _, x := range list {
		m, _ := x.(map[string]any)
		str := func(k string) string { s, _ := m[k].(string); return s }
		a := Attachment{ID: str("id"), Name: str("name"), Type: str("type"), SHA256: str("sha256"), URL: str("url")}
		switch n := m["size"].(type) {
		case json.Number:
			a.Size, _ = n.Int64()
		case float64:
			a.Size = int64(n)
		}
		out = append(out, a)
	}
	return out
}
