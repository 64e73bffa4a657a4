package main

import (
	"strings"
	"testing"
)

// serve's --uploads and --public-url reach CLAIMBOT_UPLOADS and
// CLAIMBOT_PUBLIC_URL, and production refuses to start without uploads
// when the shipped flow asks for files, naming the variable.
func TestServeUploadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"CLAIMBOT_BANNER_SECRET=", "CLAIMBOT_ADDR=127.0.0.1:0"}, []string{"--uploads", "gs://bucket"}, "CLAIMBOT_UPLOADS"},
		{[]string{"CLAIMBOT_BANNER_SECRET=", "CLAIMBOT_ADDR=127.0.0.1:0"}, []string{"--public-url", "ftp://chat.example"}, "CLAIMBOT_PUBLIC_URL"},
		{[]string{"CLAIMBOT_BANNER_SECRET=" + productionSecret, "CLAIMBOT_ADDR=127.0.0.1:0", "REDIS_URL=redis://127.0.0.1:1/0",
			"CLAIMBOT_WEBHOOK_URL=http://127.0.0.1:1/", "CLAIMBOT_WEBHOOK_SECRET=whsec_c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzISE=", "CLAIMBOT_UPLOADS=", "CLAIMBOT_PUBLIC_URL="}, nil, "CLAIMBOT_UPLOADS"},
		{[]string{"CLAIMBOT_BANNER_SECRET=" + productionSecret, "CLAIMBOT_ADDR=127.0.0.1:0", "REDIS_URL=redis://127.0.0.1:1/0",
			"CLAIMBOT_WEBHOOK_URL=http://127.0.0.1:1/", "CLAIMBOT_WEBHOOK_SECRET=whsec_c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzISE=", "CLAIMBOT_PUBLIC_URL="}, []string{"--uploads", t.TempDir()}, "CLAIMBOT_PUBLIC_URL"},
	} {
		_, errOut, code := claimbot(t, tc.env, append([]string{"serve"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d, want %s named: %q", tc.args, code, tc.want, errOut)
		}
	}
}
