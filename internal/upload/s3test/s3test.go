// Package s3test starts a real S3-compatible server for tests: versitygw
// (Apache-2.0) on loopback, over a temp folder, with one bucket. Tests that
// need it skip when versitygw is not installed, except under
// CLAIMBOT_REQUIRE_REAL=1 (CI), where they fail. Install it with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`.
package s3test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is one versitygw process.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	Client    *s3.Client
}

// Binary finds versitygw on the PATH, in $GOPATH/bin or in $HOME/go/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Start starts versitygw with a bucket named "claimbot" and stops it when
// the test ends. Its posix backend keeps metadata in extended attributes;
// where the temp folder has none it runs with a sidecar folder.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CLAIMBOT_REQUIRE_REAL") == "1" {
			t.Fatal("s3test: versitygw is not installed and CLAIMBOT_REQUIRE_REAL=1 " +
				"(go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
		t.Skip("versitygw is not installed")
	}
	s := &Server{AccessKey: "claimbot-test", SecretKey: "claimbot-test-secret-key", Region: "us-east-1", Bucket: "claimbot"}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	var args []string
	if !hasXattr(data) {
		side := filepath.Join(dir, "sidecar")
		if err := os.Mkdir(side, 0o750); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--sidecar", side)
	}
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, append([]string{"--port", addr, "posix"}, append(args, data)...)...)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("s3test: start versitygw: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	s.Endpoint = "http://" + addr
	s.Client = s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "versitygw.log"))
			t.Fatalf("s3test: versitygw did not create the bucket: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// Env sets the AWS SDK's standard variables for this server for the rest
// of the test (so code under test reads them as in production).
func (s *Server) Env(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", s.Endpoint)
	t.Setenv("AWS_REGION", s.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// hasXattr reports whether dir's filesystem keeps user extended attributes.
func hasXattr(dir string) bool {
	return setXattr(dir) == nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
