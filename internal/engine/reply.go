package engine

// Reply is the server's answer frame (contract §2).
type Reply struct {
	Type     string   `json:"type"`
	State    string   `json:"state"`
	Field    string   `json:"field"`
	Input    string   `json:"input"`
	Messages []string `json:"messages"`
	Choices  []Choice `json:"choices"`
	Invalid  bool     `json:"invalid"`
	Done     bool     `json:"done"`
	ClaimID  string   `json:"claim_id,omitempty"`
	// A files question: where and what to upload, and the files attached
	// so far (omitted while there are none).
	Upload *Upload     `json:"upload,omitempty"`
	Files  []FileShown `json:"files,omitempty"`

	// enc, when set, holds Messages and Choices as AppendJSON writes them,
	// made once for the replies that share them (see plan.asked). It
	// serves only while the fields still hold those very slices.
	enc *encoded
}

// encoded is a reply's messages and choices already written as JSON;
// or, with pieces, quick replies a turn puts together (the summary's, an
// end's) each already written.
type encoded struct {
	msgs        []string
	msgsJSON    []byte
	choices     []Choice
	choicesJSON []byte
	pieces      map[string]piece // choice value → the choice and its JSON
}

// piece is a quick reply written as JSON: for a choice equal to c.
type piece struct {
	c    Choice
	json []byte
}

func encode(msgs []string, choices []Choice) *encoded {
	return &encoded{msgs: msgs, msgsJSON: appendStrings(nil, msgs), choices: choices, choicesJSON: appendChoices(nil, choices)}
}

// sameSlice reports whether a and b are the same slice: a reply's field
// still holding what was encoded. Empty ones encode alike.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// UploadPath is where the server mounts the tus endpoint (CONTRACT §7).
const UploadPath = "/uploads/"

// Upload tells a client where to upload and what (CONTRACT §2).
type Upload struct {
	URL      string   `json:"url"`
	MaxFiles int      `json:"max_files"`
	MaxBytes int64    `json:"max_bytes"`
	Accept   []string `json:"accept"`
}

// FileShown is a file attached so far, as a files reply lists it.
type FileShown struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Choice is a quick reply offered to the user. Short, when the flow gives
// one, is the label for channels with tight label limits (the messenger's
// chatbot builder); the web chat shows Label.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Short string `json:"short,omitempty"`
}
