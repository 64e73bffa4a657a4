// Package engine steps one person's conversation through a flow: a pure
// function (flow, session, input) → (session, reply) that does no I/O, so
// the server, the scripted-conversation runner, the terminal chat and the
// benchmarks all drive the same code.
package engine

import (
	"time"
)

// MaxApplied is how many applied frame ids a session remembers.
const MaxApplied = 64

// Session is one person's conversation in one flow: everything the engine
// needs to resume it. The session store keeps it in Redis; nothing durable
// lives anywhere else.
type Session struct {
	// Epoch tells this session from an earlier one of the same user and
	// flow that expired: the store makes it with the session, at its first
	// write, and compares it with the revision, which starts at 1 again in
	// a new session. The engine keeps it as it is, restarts included.
	Epoch   string         `json:"e,omitempty"`
	User    string         `json:"u"`
	Flow    string         `json:"f"`
	Version string         `json:"v"`           // the flow version the conversation started on
	Lang    string         `json:"l"`           // ko or en
	State   string         `json:"s,omitempty"` // the state waiting for an answer, or where it ended
	Answers map[string]any `json:"a,omitempty"` // answer key → string, bool or int64
	History []string       `json:"h,omitempty"` // answered waiting states on the path, for back
	Skipped []string       `json:"k,omitempty"` // states left through their fallback
	Refused int            `json:"r,omitempty"` // refusals in the current state
	Done    bool           `json:"d,omitempty"`
	ClaimID string         `json:"c,omitempty"` // the receipt of the last filed claim
	Filed   int            `json:"n,omitempty"` // claims filed in this session
	Applied []string       `json:"i,omitempty"` // the last MaxApplied applied frame ids
	// Handoff is the state where the user asked for a person while the bot
	// waits for a phone number for the call back ("" when it does not).
	Handoff string `json:"o,omitempty"`
	// Files are the files attached at the flow's files question (or, while
	// Adding, the ones being added to the filed claim).
	Files []Attachment `json:"fl,omitempty"`
	// Late is set when the last filed claim may still get files: its
	// evidence was "later" or its tier asks for a review on evidence.
	Late bool `json:"x,omitempty"`
	// Adding is the files question's state while a returning user attaches
	// files to the filed claim ("" when not).
	Adding string `json:"xa,omitempty"`
	// Visited is the intake counts' bookkeeping (package insight), which
	// the store keeps with the session: the funnel fields this
	// conversation has counted already. The engine leaves it alone.
	Visited string    `json:"vs,omitempty"`
	Updated time.Time `json:"t"`
}

// NewSession is a conversation not yet started; the first Step starts it.
func NewSession(user, flowID, lang string) *Session {
	if lang != "en" {
		lang = "ko"
	}
	return &Session{User: user, Flow: flowID, Lang: lang}
}

// Clone returns a deep copy, so a step never changes its input. Not
// inlined: its locals would be in Step's frame, under every turn's deepest
// calls (see TestStepStack).
//
//go:noinline
func (s *Session) Clone() *Session {
	c := *s
	if s.Answers != nil {
		c.Answers = make(map[string]any, len(s.Answers))
		for k, v := range s.Answers {
			c.Answers[k] = v
		}
	}
	c.History = append([]string(nil), s.History...)
	c.Skipped = append([]string(nil), s.Skipped...)
	c.Applied = append([]string(nil), s.Applied...)
	c.Files = append([]Attachment(nil), s.Files...)
	return &c
}

// cloneForStep is Clone for a Step that keeps the answers shared with s:
// the step must not change them (see turn.sharedAnswers). The history and
// the applied ids get room for the one entry a step usually adds. The
// three lists are copied into one new array, each capped at its own part
// of it, so growing one never writes into another; an empty list stays
// nil, as in Clone.
func (s *Session) cloneForStep() *Session {
	c := *s
	h, a, k := len(s.History), len(s.Applied), len(s.Skipped)
	n := k
	if h > 0 {
		n += h + 1
	}
	if a > 0 {
		n += a + 1
	}
	c.History, c.Applied, c.Skipped = nil, nil, nil
	if n > 0 {
		buf := make([]string, n)
		if h > 0 {
			c.History, buf = buf[:h:h+1], buf[h+1:]
			copy(c.History, s.History)
		}
		if a > 0 {
			c.Applied, buf = buf[:a:a+1], buf[a+1:]
			copy(c.Applied, s.Applied)
		}
		if k > 0 {
			c.Skipped = buf[:k:k]
			copy(c.Skipped, s.Skipped)
		}
	}
	if s.Files != nil {
		c.Files = append(make([]Attachment, 0, len(s.Files)+1), s.Files...)
	}
	return &c
}

// Seen reports whether a frame id was applied already.
func (s *Session) Seen(id string) bool {
	if id == "" {
		return false
	}
	for _, a := range s.Applied {
		if a == id {
			return true
		}
	}
	return false
}

func (s *Session) remember(id string) {
	if id == "" {
		return
	}
	if len(s.Applied) >= MaxApplied {
		s.Applied = append(s.Applied[:0], s.Applied[len(s.Applied)-MaxApplied+1:]...)
	}
	s.Applied = append(s.Applied, id)
}

func (s *Session) skipped(state string) bool {
	for _, k := range s.Skipped {
		if k == state {
			return true
		}
	}
	return false
}

// waiting is the question the session waits for: HandoffState while it
// asks for a phone number for a call back, else its state.
func (s *Session) waiting() string {
	if s.Handoff != "" && !s.Done {
		return HandoffState
	}
	if s.Adding != "" && s.Done {
		return s.Adding
	}
	return s.State
}
