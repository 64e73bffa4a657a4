package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/webhook"
)

func attach(t testing.TB, c *store.Conv, f engine.Attachment) {
	t.Helper()
	res, err := c.Turn(context.Background(), engine.Input{Kind: engine.Attach, Text: f.ID, File: &f})
	if err != nil || res.Reply.Invalid {
		t.Fatalf("attach %s: %v %v", f.ID, err, res.Reply.Messages)
	}
}

func pdf(id string) engine.Attachment {
	return engine.Attachment{ID: id, Name: id + ".pdf", Type: "application/pdf", Size: 4821, SHA256: strings.Repeat("0f", 32)}
}

// link stands in for upload.Service.Link: no expiry, so the same id gives
// the same URL.
func link(id string) string { return "https://bot.example/files/" + id + "?sig=s1" }

// The files go with the claim (data.attachments, linked), and files added
// to the filed claim later become a claim.evidence_added entry of the same
// outbox, under an id of its own, written by the turn's one script.
func TestEvidenceInOutbox(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	eng := testEngine(t)
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Now: func() time.Time { return during }, Link: link})
	const user = "u-files"
	c, _, err := st.Open(ctx, user, "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct {
		kind engine.Kind
		text string
	}{
		{engine.Choose, "yes"}, {engine.Choose, "small_business"}, {engine.Choose, "mail"}, {engine.Choose, "free_monetary"},
		{engine.Text, "동네책방"}, {engine.Text, "617-81-02431"}, {engine.Text, "600000"},
	} {
		if r := turn(t, c, in.kind, in.text); r.Invalid {
			t.Fatalf("%q refused: %v", in.text, r.Messages)
		}
	}
	attach(t, c, pdf("up_a"))
	attach(t, c, pdf("up_b"))
	for _, in := range []struct {
		kind engine.Kind
		text string
	}{
		{engine.Choose, "done"}, {engine.Text, "me@example.com"}, {engine.Text, "010-1234-5678"}, {engine.Text, "주문 누락"}, {engine.Text, "주문서가 오지 않았어요"},
	} {
		if r := turn(t, c, in.kind, in.text); r.Invalid {
			t.Fatalf("%q refused: %v", in.text, r.Messages)
		}
	}
	r := turn(t, c, engine.Choose, "submit")
	if !r.Done || r.ClaimID == "" {
		t.Fatalf("submit: %+v", r)
	}
	turn(t, c, engine.Choose, engine.ValueAttach)
	attach(t, c, pdf("up_c"))
	turn(t, c, engine.Choose, "done")

	n := shard.Of(user)
	msgs, err := rdb.XRange(ctx, shard.Outbox(n), "-", "+").Result()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("outbox: %v %v", msgs, err)
	}
	type body struct {
		Type string `json:"type"`
		Data struct {
			ClaimID     string               `json:"claim_id"`
			UserID      string               `json:"user_id"`
			Attachments []webhook.Attachment `json:"attachments"`
		} `json:"data"`
	}
	var got [2]body
	for i, m := range msgs {
		b := m.Values[shard.FieldBody].(string)
		if err := webhook.ValidateBody([]byte(b)); err != nil {
			t.Errorf("entry %d does not match its schema: %v\n%s", i, err, b)
		}
		if err := json.Unmarshal([]byte(b), &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	claim, ev := got[0], got[1]
	if claim.Type != webhook.EventClaimSubmitted || len(claim.Data.Attachments) != 2 ||
		claim.Data.Attachments[0] != (webhook.Attachment{ID: "up_a", Name: "up_a.pdf", Type: "application/pdf", Size: 4821,
			SHA256: strings.Repeat("0f", 32), URL: link("up_a")}) || claim.Data.Attachments[1].URL != link("up_b") {
		t.Errorf("claim body: %+v", claim)
	}
	if ev.Type != webhook.EventEvidenceAdded || ev.Data.ClaimID != r.ClaimID || ev.Data.UserID != user ||
		len(ev.Data.Attachments) != 1 || ev.Data.Attachments[0].ID != "up_c" || ev.Data.Attachments[0].URL != link("up_c") {
		t.Errorf("evidence body: %+v", ev)
	}
	evID := msgs[1].Values[shard.FieldClaim].(string)
	if evID == r.ClaimID || evID == "" {
		t.Fatalf("evidence entry id %q, claim %s: want an id of its own", evID, r.ClaimID)
	}
	if sn, ok := shard.OfClaim(evID); !ok || sn != n {
		t.Errorf("evidence id %s: shard %d, want %d", evID, sn, n)
	}
	if rdb.Exists(ctx, shard.ClaimReservation(n, evID)).Val() != 1 {
		t.Error("the evidence id is not reserved")
	}
	if at := msgs[1].Values[shard.FieldAt].(string); at != "1666260000000" {
		t.Errorf("evidence at = %s, want the step's time", at)
	}
}

// The body is the same however often it is made: a delivery retried days
// later posts the bytes of the first attempt.
func TestBodyDeterministic(t *testing.T) {
	cl := &engine.Claim{ID: "7K3M-Q9XD", User: "u", Lang: "ko", Flow: "damage-1015", Version: "v1", SubmittedAt: during,
		Answers: map[string]any{"privacy_consent": true}, Attachments: []engine.Attachment{pdf("up_a")}}
	a, err := store.Body(cl, link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := store.Body(cl, link)
	if string(a) != string(b) || !strings.Contains(string(a), link("up_a")) {
		t.Errorf("bodies differ or lack the link:\n%s\n%s", a, b)
	}
	if err := webhook.ValidateBody(a); err != nil {
		t.Error(err)
	}
	// Without a link (no uploads configured) the url is empty, and the
	// schema says so.
	c, _ := store.Body(cl, nil)
	if !strings.Contains(string(c), `"url":""`) || webhook.ValidateBody(c) == nil {
		t.Errorf("body without Link: %s", c)
	}
	cl.Attachments = nil
	d, _ := store.Body(cl, link)
	if strings.Contains(string(d), "attachments") {
		t.Errorf("attachments key without files: %s", d)
	}
}
