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
}

// Choice is a quick reply offered to the user.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}
