package upload

import (
	"context"
	"errors"

	"github.com/claimbot/claimbot/internal/engine"
)

// Resolve looks up the upload a file frame names (in.Text, an Attach
// input) for user, under the limits of the question it answers, and sets
// in.File or in.Problem for the engine, which does no I/O. Every channel
// that takes file frames (the WebSocket, the scripted conversations) calls
// it before the turn. The error is only for a lookup that could not be
// made (Redis or the storage unreachable): then nothing may be applied.
func (s *Service) Resolve(ctx context.Context, in *engine.Input, user string, lim Limits) error {
	if in.Kind != engine.Attach {
		return nil
	}
	f, err := s.Check(ctx, in.Text, user, lim)
	problem := ""
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknown):
		problem = engine.ProblemUnknown
	case errors.Is(err, ErrNotYours):
		// Nothing of another user's file reaches the reply, its name
		// neither.
		in.File, in.Problem = nil, engine.ProblemNotYours
		return nil
	case errors.Is(err, ErrUnfinished):
		problem = engine.ProblemUnfinished
	case errors.Is(err, ErrType):
		problem = engine.ProblemType
	case errors.Is(err, ErrSize):
		problem = engine.ProblemSize
	case errors.Is(err, ErrKept):
		// Already sent with a claim (another, or this one's earlier
		// files): attaching it again would tie one file to two retentions.
		problem = engine.ProblemSent
	default:
		return err
	}
	in.File = &engine.Attachment{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, SHA256: f.SHA256}
	if f.ID == "" {
		in.File = nil
	}
	in.Problem = problem
	return nil
}

// LimitsOf are the limits of the files question a reply asks (none when
// it asks no files question).
func LimitsOf(r engine.Reply) Limits {
	if r.Upload == nil {
		return Limits{}
	}
	return Limits{MaxSize: r.Upload.MaxBytes, Types: r.Upload.Accept}
}
