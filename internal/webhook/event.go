// Package webhook is the claim handoff of CONTRACT §3: the body of the
// "claim.submitted" webhook, its Standard Webhooks signature
// (https://www.standardwebhooks.com), the JSON Schema of the body, and a
// development receiver that stands in for the backend.
//
// The JSON Schema of the body ships in the repository at
// internal/webhook/claim.schema.json (draft 2020-12); ValidateBody checks a
// body against it.
package webhook

import "time"

// EventClaimSubmitted is the type of the only event claimbot sends.
const EventClaimSubmitted = "claim.submitted"

// Flow names the flow and the flow version a claim was filed with.
type Flow struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// Claim is the data of a claim.submitted event.
type Claim struct {
	ClaimID     string         `json:"claim_id"`
	UserID      string         `json:"user_id"`
	Locale      string         `json:"locale"`
	Flow        Flow           `json:"flow"`
	SubmittedAt time.Time      `json:"submitted_at"`
	Answers     map[string]any `json:"answers"`
	// Attachments are the files attached to the claim; absent when none.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file attached to a claim (CONTRACT §3): a plain GET of
// URL returns its bytes for as long as the claim's data is kept.
type Attachment struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

// Event is the webhook body.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Claim     `json:"data"`
}

// NewEvent wraps a filed claim in a claim.submitted event. Times become
// UTC, truncated to seconds, so they encode as "2022-10-19T06:12:40Z"; the
// event's timestamp is the claim's submission time, so the body is the
// same on every attempt. Nil answers encode as {}.
func NewEvent(c Claim) Event {
	c.SubmittedAt = c.SubmittedAt.UTC().Truncate(time.Second)
	if c.Answers == nil {
		c.Answers = map[string]any{}
	}
	return Event{Type: EventClaimSubmitted, Timestamp: c.SubmittedAt, Data: c}
}

// MessageID is the webhook-id of a claim's deliveries: the same on every
// attempt, so the backend can dedupe on it.
func MessageID(claimID string) string {
	return messageIDPrefix + claimID
}

// messageIDPrefix starts every webhook-id.
const messageIDPrefix = "msg_"

// EventHandoffRequested is the type of the event that asks for a person
// to call a user back (CONTRACT §3).
const EventHandoffRequested = "handoff.requested"

// Handoff is the data of a handoff.requested event.
type Handoff struct {
	HandoffID string         `json:"handoff_id"`
	UserID    string         `json:"user_id"`
	Locale    string         `json:"locale"`
	Flow      Flow           `json:"flow"`
	State     string         `json:"state"` // where the user asked
	Answers   map[string]any `json:"answers"`
	Phone     string         `json:"phone,omitempty"` // for the call back, normalised
}

// HandoffEvent is the body of a handoff.requested webhook.
type HandoffEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Handoff   `json:"data"`
}

// NewHandoffEvent wraps a handoff request made at a time (UTC, whole
// seconds, as in NewEvent). Nil answers encode as {}.
func NewHandoffEvent(h Handoff, at time.Time) HandoffEvent {
	if h.Answers == nil {
		h.Answers = map[string]any{}
	}
	return HandoffEvent{Type: EventHandoffRequested, Timestamp: at.UTC().Truncate(time.Second), Data: h}
}

// EventEvidenceAdded is the type of the event that tells of files a
// returning user attached to a claim already filed (CONTRACT §3).
const EventEvidenceAdded = "claim.evidence_added"

// Evidence is the data of a claim.evidence_added event.
type Evidence struct {
	ClaimID     string       `json:"claim_id"`
	UserID      string       `json:"user_id"`
	Attachments []Attachment `json:"attachments"` // the new files only
}

// EvidenceEvent is the body of a claim.evidence_added webhook.
type EvidenceEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Evidence  `json:"data"`
}

// NewEvidenceEvent wraps files added at a time (UTC, whole seconds, as in
// NewEvent). Nil attachments encode as [] (the schema then refuses the
// body: the event is for files added).
func NewEvidenceEvent(e Evidence, at time.Time) EvidenceEvent {
	if e.Attachments == nil {
		e.Attachments = []Attachment{}
	}
	return EvidenceEvent{Type: EventEvidenceAdded, Timestamp: at.UTC().Truncate(time.Second), Data: e}
}
