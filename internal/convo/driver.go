package convo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
)

// Frame is a client frame (CONTRACT §2).
type Frame = engine.Frame

// Reply is the server's reply to a frame, with the flow transitions the
// turn took when the driver can see them (in-process only).
type Reply struct {
	engine.Reply
	Moves []flow.Edge `json:"-"`
}

// Driver runs one conversation, as one page of the web chat would.
type Driver interface {
	// Open connects and returns the first reply.
	Open(ctx context.Context) (Reply, error)
	// Send sends one frame and returns its reply.
	Send(ctx context.Context, f Frame) (Reply, error)
	// Claim returns the answers of a claim as the backend received them;
	// checked is false when this driver cannot see the deliveries.
	Claim(ctx context.Context, claimID string) (answers map[string]any, checked bool, err error)
	// Close ends the conversation's connection.
	Close() error
}

// Backend makes a driver per conversation.
type Backend interface {
	// Driver starts a conversation of user in a flow (empty: the default
	// flow) and language (empty: ko).
	Driver(ctx context.Context, user, flow, lang string) (Driver, error)
	// DefaultFlow is the flow of scripts that name none.
	DefaultFlow() string
	Close() error
}

// frames numbers a conversation's frames as the web page does: a random
// prefix per page load and a counter.
type frames struct {
	prefix string
	n      int
}

func newFrames() *frames { return &frames{prefix: randomHex(4)} }

func (fs *frames) next(f Frame, last Reply) Frame {
	fs.n++
	f.ID = fs.prefix + "-" + strconv.Itoa(fs.n)
	if f.State == "" {
		f.State = last.State
	}
	return f
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewUser returns a fresh user id for one conversation.
func NewUser() string { return "convo-" + randomHex(8) }

// Uploader is a driver that can upload files as the chat page does, for
// attach steps and `claimbot chat`'s /attach.
type Uploader interface {
	// Upload sends data, a file named name, to the upload endpoint that
	// last (the reply shown) names, as the conversation's user, and
	// returns the upload's URL for a file frame. A *RefusedError with a
	// Location is an upload the server refused after creating it (its
	// type): a file frame naming it gets the bot's reason.
	Upload(ctx context.Context, name string, data []byte, last Reply) (string, error)
}

// attachFrame uploads the file at path through d and returns the file
// frame that attaches it. A file whose bytes the server refused is still
// named in the frame, so that the bot says why in the user's language;
// refused then says what the server answered.
func attachFrame(ctx context.Context, d Driver, path string, last Reply) (f Frame, refused error, err error) {
	up, ok := d.(Uploader)
	if !ok {
		return Frame{}, nil, errors.New("this backend takes no files")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Frame{}, nil, fmt.Errorf("attach: %w", err)
	}
	loc, err := up.Upload(ctx, filepath.Base(path), data, last)
	var re *RefusedError
	if errors.As(err, &re) && re.Location != "" {
		return Frame{Type: "file", Upload: re.Location}, re, nil
	}
	if err != nil {
		return Frame{}, nil, err
	}
	return Frame{Type: "file", Upload: loc}, nil, nil
}
