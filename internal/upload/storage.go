package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"
)

// storage is where upload bytes live: tusd's store for the protocol, and
// the few things this package does to a finished file (rewrite its head
// in place, read it).
type storage interface {
	compose(c *handler.StoreComposer)
	store() handler.DataStore
	terminater() handler.TerminaterDataStore
	// rewriteHead replaces the first len(head) bytes of a finished upload;
	// the size never changes.
	rewriteHead(ctx context.Context, info handler.FileInfo, head []byte) error
	where() string
}

// openStorage reads a CLAIMBOT_UPLOADS setting: a folder path, or
// s3://bucket[/prefix] with the AWS SDK's standard variables.
func openStorage(ctx context.Context, setting string) (storage, error) {
	if setting == "" {
		return nil, errors.New("upload: no storage set")
	}
	if strings.HasPrefix(setting, "s3://") {
		u, err := url.Parse(setting)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("upload: storage %q: want s3://bucket[/prefix]", setting)
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("upload: aws config: %w", err)
		}
		custom := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
		client := s3.NewFromConfig(cfg, func(o *s3.Options) {
			// S3-compatible servers on a custom endpoint (versitygw, MinIO,
			// Ceph) expect path-style addressing; AWS itself takes both.
			o.UsePathStyle = custom
		})
		return newS3Storage(client, u.Host, strings.Trim(u.Path, "/")), nil
	}
	if strings.Contains(setting, "://") {
		return nil, fmt.Errorf("upload: storage %q: want a folder path or s3://bucket[/prefix]", setting)
	}
	if err := os.MkdirAll(setting, 0o750); err != nil {
		return nil, fmt.Errorf("upload: storage folder: %w", err)
	}
	abs, err := filepath.Abs(setting)
	if err != nil {
		return nil, fmt.Errorf("upload: storage folder: %w", err)
	}
	return &localStorage{fs: filestore.New(abs)}, nil
}

type localStorage struct{ fs filestore.FileStore }

func (l *localStorage) compose(c *handler.StoreComposer) { l.fs.UseIn(c) }
func (l *localStorage) store() handler.DataStore         { return l.fs }
func (l *localStorage) terminater() handler.TerminaterDataStore {
	return l.fs
}
func (l *localStorage) where() string { return l.fs.Path }

func (l *localStorage) rewriteHead(_ context.Context, info handler.FileInfo, head []byte) error {
	path := info.Storage[filestore.StorageKeyPath]
	if path == "" {
		path = filepath.Join(l.fs.Path, info.ID)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	if _, err := f.WriteAt(head, 0); err != nil {
		f.Close()
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	return f.Close()
}

type s3Storage struct {
	client *s3.Client
	bucket string
	s      s3store.S3Store
}

func newS3Storage(client *s3.Client, bucket, prefix string) *s3Storage {
	st := s3store.New(bucket, client)
	st.ObjectPrefix = prefix
	return &s3Storage{client: client, bucket: bucket, s: st}
}

func (s *s3Storage) compose(c *handler.StoreComposer) { s.s.UseIn(c) }
func (s *s3Storage) store() handler.DataStore         { return s.s }
func (s *s3Storage) terminater() handler.TerminaterDataStore {
	return s.s
}
func (s *s3Storage) where() string {
	if s.s.ObjectPrefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.s.ObjectPrefix
}

// rewriteHead puts the object again with its head replaced: S3 objects
// cannot be changed in place. The object is streamed, never held whole.
func (s *s3Storage) rewriteHead(ctx context.Context, info handler.FileInfo, head []byte) error {
	key := info.Storage["Key"]
	if key == "" {
		return errors.New("upload: rewrite: no object key")
	}
	obj, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	defer obj.Body.Close()
	if _, err := io.CopyN(io.Discard, obj.Body, int64(len(head))); err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	// The SDK signs a body it can seek: spool the new object to a temp file.
	tmp, err := os.CreateTemp("", "claimbot-upload-*")
	if err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := tmp.Write(head); err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	if _, err := io.Copy(tmp, obj.Body); err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(key),
		Body:        tmp,
		ContentType: obj.ContentType,
		Metadata:    obj.Metadata,
	})
	if err != nil {
		return fmt.Errorf("upload: rewrite: %w", err)
	}
	return nil
}
