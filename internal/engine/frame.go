package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Frame is a client frame (contract §2).
type Frame struct {
	Type  string `json:"type"`            // text, choice, command or file
	Text  string `json:"text,omitempty"`  // text
	Value string `json:"value,omitempty"` // choice
	Name  string `json:"name,omitempty"`  // command
	// Upload names a finished upload (file): the URL its creation
	// returned, or that URL's last path segment.
	Upload string `json:"upload,omitempty"`
	ID     string `json:"id,omitempty"`
	State  string `json:"state,omitempty"` // the state the frame answers
}

// maxFrameID bounds a frame's id and state.
const maxFrameID = 128

// Input decodes a frame into the engine's input; an error is a bad frame.
func (f Frame) Input() (Input, error) {
	in := Input{ID: f.ID, State: f.State}
	if len(f.ID) > maxFrameID || len(f.State) > maxFrameID {
		return in, errors.New("bad_frame: id or state too long")
	}
	switch f.Type {
	case "text":
		in.Kind, in.Text = Text, f.Text
	case "choice":
		if f.Value == "" {
			return in, errors.New("bad_frame: a choice frame needs a value")
		}
		in.Kind, in.Text = Choose, f.Value
	case "file":
		id := UploadID(f.Upload)
		if id == "" {
			return in, errors.New("bad_frame: a file frame needs an upload")
		}
		in.Kind, in.Text = Attach, id
	case "command":
		if !isCommand(f.Name) {
			return in, fmt.Errorf("bad_frame: unknown command %q", f.Name)
		}
		in.Kind, in.Text = Command, f.Name
	default:
		return in, fmt.Errorf("bad_frame: unknown frame type %q", f.Type)
	}
	return in, nil
}

// UploadID is the id of an upload named by its URL (absolute, or a path
// under UploadPath) or by the id itself; "" when the name is no upload's.
func UploadID(name string) string {
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	name = strings.TrimRight(name, "/")
	id := name[strings.LastIndexByte(name, '/')+1:]
	if id == "" || len(id) > maxFrameID || strings.ContainsAny(id, " %\\") {
		return ""
	}
	return id
}
