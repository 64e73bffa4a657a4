package convo

import (
	"strings"
	"testing"
)

// A webhook secret alone (as CLAIMBOT_WEBHOOK_SECRET in the environment
// gives it) is ignored; a listener needs a secret.
func TestNewRemoteWebhookOptions(t *testing.T) {
	const secret = "whsec_c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzISE="
	for _, tc := range []struct {
		name    string
		opt     RemoteOptions
		wantErr string // "" : no error
		listens bool
	}{
		{name: "neither", opt: RemoteOptions{}},
		{name: "secret without listener", opt: RemoteOptions{WebhookSecret: secret}},
		{name: "bad secret without listener", opt: RemoteOptions{WebhookSecret: "not-a-secret"}},
		{name: "listener and secret", opt: RemoteOptions{WebhookListen: "127.0.0.1:0", WebhookSecret: secret}, listens: true},
		{name: "listener without secret", opt: RemoteOptions{WebhookListen: "127.0.0.1:0"}, wantErr: "--webhook-listen needs --webhook-secret"},
		{name: "listener with a bad secret", opt: RemoteOptions{WebhookListen: "127.0.0.1:0", WebhookSecret: "not-a-secret"}, wantErr: "webhook secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.URL = "ws://127.0.0.1:1/ws"
			r, err := NewRemote(tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.WebhookAddr() != ""; got != tc.listens {
				t.Errorf("listens %v, want %v", got, tc.listens)
			}
		})
	}
}
