package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/upload/s3test"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

const userHeader = "X-Test-User"

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// instance is one server instance: a Service behind an httptest.Server.
type instance struct {
	svc *Service
	srv *httptest.Server
}

func newInstance(t *testing.T, storage string, rdb redis.UniversalClient, max int64, opts ...func(*Config)) *instance {
	t.Helper()
	in := &instance{}
	mux := http.NewServeMux()
	in.srv = httptest.NewServer(mux)
	t.Cleanup(in.srv.Close)
	cfg := Config{
		Storage: storage, PublicURL: in.srv.URL, Secret: testSecret, MaxSize: max, Redis: rdb,
		Auth: func(r *http.Request) (string, bool) {
			u := r.Header.Get(userHeader)
			return u, u != ""
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	in.svc = svc
	mux.Handle("/uploads/", svc.Handler())
	mux.Handle("/uploads", svc.Handler())
	mux.Handle("/files/", svc.Files())
	return in
}

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	r := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// backends runs f on the local folder and on versitygw.
func backends(t *testing.T, f func(t *testing.T, storage func() string)) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		f(t, func() string { return dir })
	})
	t.Run("s3", func(t *testing.T) {
		s := s3test.Start(t)
		s.Env(t)
		f(t, func() string { return "s3://" + s.Bucket + "/evidence" })
	})
}

func tusReq(t *testing.T, method, url, user string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if user != "" {
		req.Header.Set(userHeader, user)
	}
	return req
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// create makes an upload and returns its URL.
func create(t *testing.T, in *instance, user, name, typ string, length int64) (string, int) {
	t.Helper()
	req := tusReq(t, http.MethodPost, in.srv.URL+"/uploads/", user, nil)
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	req.Header.Set("Upload-Metadata", "filename "+b64(name)+",filetype "+b64(typ)+","+ownerKey+" "+b64("mallory"))
	res := do(t, req)
	return res.Header.Get("Location"), res.StatusCode
}

func head(t *testing.T, url, user string) (int64, int) {
	t.Helper()
	res := do(t, tusReq(t, http.MethodHead, url, user, nil))
	off, _ := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	return off, res.StatusCode
}

func patch(t *testing.T, url, user string, offset int64, chunk []byte) int {
	t.Helper()
	req := tusReq(t, http.MethodPatch, url, user, bytes.NewReader(chunk))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	return do(t, req).StatusCode
}

// sendAll PATCHes data from offset in chunks and fails the test on any
// answer but 204.
func sendAll(t *testing.T, url, user string, offset int64, data []byte, chunk int) {
	t.Helper()
	for offset < int64(len(data)) {
		end := min(offset+int64(chunk), int64(len(data)))
		if code := patch(t, url, user, offset, data[offset:end]); code != http.StatusNoContent {
			t.Fatalf("PATCH at %d: %d", offset, code)
		}
		offset = end
	}
}

func idOf(url string) string { return url[strings.LastIndex(url, "/uploads/")+len("/uploads/"):] }

func fakePDF(t *testing.T, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	copy(b[size-6:], "%%EOF\n")
	return b
}

// dropPatch sends the first part of a PATCH body and then drops the
// connection, as a phone losing its network does.
func dropPatch(t *testing.T, url, user string, offset int64, data []byte, sent int) {
	t.Helper()
	pr, pw := io.Pipe()
	req := tusReq(t, http.MethodPatch, url, user, pr)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.ContentLength = int64(len(data)) - offset
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			t.Errorf("the dropped PATCH got an answer: %d", res.StatusCode)
		}
	}()
	if _, err := pw.Write(data[offset : offset+int64(sent)]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the server store what arrived
	pw.CloseWithError(errors.New("network lost"))
	<-done
}

// TestResumeAfterDrop: a 12 MiB PDF in chunks, the connection dropped half
// way, resumed from HEAD's offset on a second instance sharing Redis and
// the storage; the digest matches and the link serves the same bytes.
func TestResumeAfterDrop(t *testing.T) {
	backends(t, func(t *testing.T, storage func() string) {
		rdb := newRedis(t)
		a := newInstance(t, storage(), rdb, 20<<20)
		b := newInstance(t, storage(), rdb, 20<<20)
		pdf := fakePDF(t, 12<<20)
		url, code := create(t, a, "alice", "확인서.pdf", "application/pdf", int64(len(pdf)))
		if code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
		sendAll(t, url, "alice", 0, pdf[:2<<20], 1<<20)
		dropPatch(t, url, "alice", 2<<20, pdf, 4<<20)

		urlB := b.srv.URL + "/uploads/" + idOf(url)
		off, code := head(t, urlB, "alice")
		if code != http.StatusOK {
			t.Fatalf("HEAD on the second instance: %d", code)
		}
		if off < 2<<20 || off >= int64(len(pdf)) {
			t.Fatalf("offset after the drop: %d", off)
		}
		if f, err := b.svc.Check(context.Background(), idOf(url), "alice", Limits{}); !errors.Is(err, ErrUnfinished) || f.Offset != off {
			t.Fatalf("Check of an unfinished upload: %+v, %v", f, err)
		}
		sendAll(t, urlB, "alice", off, pdf, 3<<20)

		f, err := b.svc.Check(context.Background(), idOf(url), "alice", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(pdf)
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.Type != "application/pdf" || f.Size != int64(len(pdf)) ||
			f.Name != "확인서.pdf" || f.Owner != "alice" || !f.Done {
			t.Fatalf("finished file: %+v", f)
		}
		// Served by the other instance too: links do not depend on where the file was uploaded.
		res, err := http.Get(a.svc.Link(f.ID, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !bytes.Equal(got, pdf) {
			t.Fatalf("link: %d, %d bytes, same=%v", res.StatusCode, len(got), bytes.Equal(got, pdf))
		}
	})
}

// TestOthersGet404: every request on an upload by anyone but its creator
// answers 404, as an unknown upload does; the creator's still work.
func TestOthersGet404(t *testing.T) {
	backends(t, func(t *testing.T, storage func() string) {
		rdb := newRedis(t)
		in := newInstance(t, storage(), rdb, 1<<20)
		data := fakePDF(t, 64<<10)
		url, _ := create(t, in, "alice", "a.pdf", "application/pdf", int64(len(data)))
		if code := patch(t, url, "alice", 0, data[:1000]); code != http.StatusNoContent {
			t.Fatalf("owner's PATCH: %d", code)
		}
		if _, code := head(t, url, "bob"); code != http.StatusNotFound {
			t.Errorf("bob's HEAD: %d", code)
		}
		if code := patch(t, url, "bob", 1000, data[1000:2000]); code != http.StatusNotFound {
			t.Errorf("bob's PATCH: %d", code)
		}
		override := tusReq(t, http.MethodPost, url, "bob", bytes.NewReader(data[1000:2000]))
		override.Header.Set("X-HTTP-Method-Override", "PATCH")
		override.Header.Set("Content-Type", "application/offset+octet-stream")
		override.Header.Set("Upload-Offset", "1000")
		if code := do(t, override).StatusCode; code != http.StatusNotFound {
			t.Errorf("bob's PATCH as a POST override: %d", code)
		}
		if code := do(t, tusReq(t, http.MethodDelete, url, "bob", nil)).StatusCode; code != http.StatusNotFound {
			t.Errorf("bob's DELETE: %d", code)
		}
		if _, code := head(t, url, ""); code != http.StatusUnauthorized {
			t.Errorf("HEAD without a user: %d", code)
		}
		if _, code := head(t, in.srv.URL+"/uploads/0123456789abcdef", "alice"); code != http.StatusNotFound {
			t.Errorf("HEAD of an unknown upload: %d", code)
		}
		off, code := head(t, url, "alice")
		if code != http.StatusOK || off != 1000 {
			t.Fatalf("alice's HEAD after bob: %d, offset %d", code, off)
		}
		if _, err := in.svc.Check(context.Background(), idOf(url), "bob", Limits{}); !errors.Is(err, ErrNotYours) {
			t.Errorf("bob's Check: %v", err)
		}
		if f, _ := in.svc.Info(context.Background(), idOf(url)); f.Owner != "alice" {
			t.Errorf("a client named the owner: %q", f.Owner)
		}
		if code := do(t, tusReq(t, http.MethodDelete, url, "alice", nil)).StatusCode; code != http.StatusNoContent {
			t.Errorf("alice's DELETE: %d", code)
		}
		if _, err := in.svc.Info(context.Background(), idOf(url)); !errors.Is(err, ErrUnknown) {
			t.Errorf("Info after DELETE: %v", err)
		}
	})
}

// TestHTMLNamedPDFRefused: the type comes from the bytes, not the name.
func TestHTMLNamedPDFRefused(t *testing.T) {
	backends(t, func(t *testing.T, storage func() string) {
		in := newInstance(t, storage(), newRedis(t), 1<<20)
		page := []byte("<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n")
		url, _ := create(t, in, "alice", "확인서.pdf", "application/pdf", int64(len(page)))
		if code := patch(t, url, "alice", 0, page); code != http.StatusUnsupportedMediaType {
			t.Fatalf("PATCH of an HTML page named .pdf: %d", code)
		}
		ctx := context.Background()
		f, err := in.svc.Check(ctx, idOf(url), "alice", Limits{})
		if !errors.Is(err, ErrType) || f.Type != "text/html" {
			t.Fatalf("Check of the refused file: %+v, %v", f, err)
		}
		if _, code := head(t, url, "alice"); code != http.StatusNotFound {
			t.Fatalf("HEAD of the refused file (its bytes are deleted): %d", code)
		}
		if res, err := http.Get(in.svc.Link(idOf(url), time.Time{})); err != nil || res.StatusCode != http.StatusNotFound {
			t.Fatalf("a link to the refused file: %v %v", res.StatusCode, err)
		}
		// The sweep or a retention Delete finds the bytes gone already.
		if err := in.svc.Delete(ctx, idOf(url)); err != nil {
			t.Fatal(err)
		}
		if err := in.svc.Delete(ctx, idOf(url)); err != nil {
			t.Fatalf("a second Delete: %v", err)
		}
		if _, err := in.svc.Info(ctx, idOf(url)); !errors.Is(err, ErrUnknown) {
			t.Fatalf("Info after Delete: %v", err)
		}
	})
}

// TestCheckLimits: a flow's own limits are narrower than the service's.
func TestCheckLimits(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	data := fakePDF(t, 10000)
	url, _ := create(t, in, "alice", "a.pdf", "application/pdf", int64(len(data)))
	sendAll(t, url, "alice", 0, data, 4096)
	if _, err := in.svc.Check(context.Background(), idOf(url), "alice", Limits{MaxSize: 9999}); !errors.Is(err, ErrSize) {
		t.Errorf("over the flow's size: %v", err)
	}
	if _, err := in.svc.Check(context.Background(), idOf(url), "alice", Limits{Types: []string{"image/png"}}); !errors.Is(err, ErrType) {
		t.Errorf("a type the flow does not take: %v", err)
	}
	if _, err := in.svc.Check(context.Background(), idOf(url), "alice", Limits{MaxSize: 10000, Types: []string{"application/pdf"}}); err != nil {
		t.Errorf("within the flow's limits: %v", err)
	}
	if _, err := in.svc.Check(context.Background(), "../../etc/passwd", "alice", Limits{}); !errors.Is(err, ErrUnknown) {
		t.Errorf("a path as id: %v", err)
	}
}

// TestUploadLengthOverLimit413 and a request without a user.
func TestUploadLengthOverLimit413(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	if _, code := create(t, in, "alice", "big.pdf", "application/pdf", 1<<20+1); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over the limit: %d", code)
	}
	if _, code := create(t, in, "alice", "ok.pdf", "application/pdf", 1<<20); code != http.StatusCreated {
		t.Errorf("at the limit: %d", code)
	}
	if _, code := create(t, in, "", "ok.pdf", "application/pdf", 10); code != http.StatusUnauthorized {
		t.Errorf("without a user: %d", code)
	}
}

// TestSignedLink: the link serves the bytes as an attachment of the sniffed
// type; any change to it is refused, and so is it once the file is gone.
func TestSignedLink(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	data := fakePDF(t, 5000)
	url, _ := create(t, in, "alice", "소상공인 확인서.pdf", "text/html", int64(len(data)))
	sendAll(t, url, "alice", 0, data, 5000)
	id := idOf(url)
	link := in.svc.Link(id, time.Time{})
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("link: %d, same bytes %v", res.StatusCode, bytes.Equal(got, data))
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"Content-Disposition":    "attachment; filename*=utf-8''%EC%86%8C%EC%83%81%EA%B3%B5%EC%9D%B8%20%ED%99%95%EC%9D%B8%EC%84%9C.pdf",
		"X-Content-Type-Options": "nosniff",
	} {
		if g := res.Header.Get(k); g != want {
			t.Errorf("%s: %q, want %q", k, g, want)
		}
	}
	other, _ := create(t, in, "alice", "b.pdf", "application/pdf", 5000)
	sendAll(t, other, "alice", 0, data, 5000)
	sig := link[strings.Index(link, "sig=")+4:]
	flipped := []byte(sig)
	flipped[3] ^= 1
	expiring := in.svc.Link(id, time.Now().Add(time.Hour))
	cases := map[string]string{
		"signature changed":         strings.Replace(link, sig, string(flipped), 1),
		"signature cut":             link[:len(link)-2],
		"no signature":              link[:strings.Index(link, "?")],
		"other id, same signature":  strings.Replace(link, id, idOf(other), 1),
		"expiry added":              link + "&exp=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10),
		"expiry pushed":             strings.Replace(expiring, "exp=", "exp=9", 1),
		"expired":                   in.svc.Link(id, time.Now().Add(-time.Second)),
		"a parameter added":         link + "&x=1",
		"id with a character added": strings.Replace(link, id, id+"0", 1),
	}
	for name, u := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: %d", u, res.StatusCode)
			}
		})
	}
	if res, _ := http.Get(expiring); res.StatusCode != 200 {
		t.Errorf("an unexpired link: %d", res.StatusCode)
	}
	if err := in.svc.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if res, _ := http.Get(link); res.StatusCode != http.StatusNotFound {
		t.Errorf("the link after Delete: %d", res.StatusCode)
	}
	if _, err := in.svc.Info(context.Background(), id); !errors.Is(err, ErrUnknown) {
		t.Errorf("Info after Delete: %v", err)
	}
}

// gpsJPEG is a small JPEG with EXIF holding an orientation and a GPS IFD
// (latitude 37° 33' 12.34" N); it returns the bytes and the raw latitude.
func gpsJPEG(t testing.TB) ([]byte, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		for y := 0; y < 48; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 90, 255})
		}
	}
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, nil); err != nil {
		t.Fatal(err)
	}
	bo := binary.BigEndian
	tiff := make([]byte, 0, 200)
	tiff = append(tiff, 'M', 'M', 0, 42, 0, 0, 0, 8)
	// IFD0 at 8: two entries, then next-IFD 0.
	tiff = bo.AppendUint16(tiff, 2)
	tiff = append(tiff, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0) // Orientation = 6
	tiff = append(tiff, 0x88, 0x25, 0, 4, 0, 0, 0, 1)             // GPSInfo -> 38
	tiff = bo.AppendUint32(tiff, 38)
	tiff = bo.AppendUint32(tiff, 0)
	// GPS IFD at 38: LatitudeRef "N", Latitude 3 rationals at 68.
	tiff = bo.AppendUint16(tiff, 2)
	tiff = append(tiff, 0, 1, 0, 2, 0, 0, 0, 2, 'N', 0, 0, 0)
	tiff = append(tiff, 0, 2, 0, 5, 0, 0, 0, 3)
	tiff = bo.AppendUint32(tiff, 68)
	tiff = bo.AppendUint32(tiff, 0)
	var lat []byte
	for _, v := range []uint32{37, 1, 33, 1, 1234, 100} {
		lat = bo.AppendUint32(lat, v)
	}
	tiff = append(tiff, lat...)
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	xmp := []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\"37,33.2N\"/></x:xmpmeta>")
	var out []byte
	out = append(out, 0xFF, 0xD8, 0xFF, 0xE1)
	out = bo.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	out = append(out, 0xFF, 0xE1)
	out = bo.AppendUint16(out, uint16(len(xmp)+2))
	out = append(out, xmp...)
	out = append(out, enc.Bytes()[2:]...)
	return out, lat
}

// TestJPEGLocationStripped: the kept JPEG has no GPS values and no XMP,
// keeps its orientation and its length, and still decodes.
func TestJPEGLocationStripped(t *testing.T) {
	backends(t, func(t *testing.T, storage func() string) {
		in := newInstance(t, storage(), newRedis(t), 1<<20)
		photo, lat := gpsJPEG(t)
		if _, err := jpeg.Decode(bytes.NewReader(photo)); err != nil {
			t.Fatalf("fixture: %v", err)
		}
		url, _ := create(t, in, "alice", "photo.jpg", "image/jpeg", int64(len(photo)))
		sendAll(t, url, "alice", 0, photo, 100)
		f, err := in.svc.Check(context.Background(), idOf(url), "alice", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.Get(in.svc.Link(f.ID, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		kept, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(kept) != len(photo) || f.Size != int64(len(photo)) || f.Type != "image/jpeg" {
			t.Fatalf("kept %d bytes of %d, %+v", len(kept), len(photo), f)
		}
		sum := sha256.Sum256(kept)
		if f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("the digest is not of the kept bytes")
		}
		if bytes.Contains(kept, lat) || bytes.Contains(kept, []byte("GPSLatitude")) {
			t.Errorf("the location is still in the file")
		}
		tiff := kept[4+2+6:]
		if n := binary.BigEndian.Uint16(tiff[38:]); n != 0 {
			t.Errorf("GPS IFD has %d entries", n)
		}
		if !bytes.Equal(tiff[10:22], []byte{0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0}) {
			t.Errorf("the orientation was lost: % x", tiff[10:22])
		}
		if _, err := jpeg.Decode(bytes.NewReader(kept)); err != nil {
			t.Errorf("the kept photo does not decode: %v", err)
		}
		// Redis lost the record: Info does the work again and finds the
		// location gone already, so the digest stays.
		if err := in.svc.cfg.Redis.Del(context.Background(), recordKey(f.ID)).Err(); err != nil {
			t.Fatal(err)
		}
		again, err := in.svc.Info(context.Background(), f.ID)
		if err != nil || again.SHA256 != f.SHA256 || again.Type != "image/jpeg" {
			t.Errorf("Info without the record: %+v, %v", again, err)
		}
	})
}

// TestSweep deletes unattached uploads once their time is up; a kept one
// stays.
func TestSweep(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	data := fakePDF(t, 4000)
	kept, _ := create(t, in, "alice", "a.pdf", "application/pdf", 4000)
	sendAll(t, kept, "alice", 0, data, 4000)
	loose, _ := create(t, in, "alice", "b.pdf", "application/pdf", 4000)
	sendAll(t, loose, "alice", 0, data[:1000], 1000)
	ctx := context.Background()
	if err := in.svc.Keep(ctx, idOf(kept)); err != nil {
		t.Fatal(err)
	}
	if n, err := in.svc.Sweep(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("early sweep: %d, %v", n, err)
	}
	n, err := in.svc.Sweep(ctx, time.Now().Add(DefaultUnattached+time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if _, err := in.svc.Info(ctx, idOf(loose)); !errors.Is(err, ErrUnknown) {
		t.Errorf("the unattached upload survived: %v", err)
	}
	if f, err := in.svc.Info(ctx, idOf(kept)); err != nil || !f.Kept {
		t.Errorf("the kept upload: %+v, %v", f, err)
	}
	if ttl := in.svc.cfg.Redis.TTL(ctx, recordKey(idOf(kept))).Val(); ttl >= 0 {
		t.Errorf("the kept record still expires: %v", ttl)
	}
}

func TestStorageSettings(t *testing.T) {
	for _, bad := range []string{"", "s3://", "http://example.com/x", "gs://bucket"} {
		if _, err := openStorage(context.Background(), bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	st, err := openStorage(context.Background(), "s3://claims/evidence/")
	if err != nil {
		t.Fatal(err)
	}
	if st.where() != "s3://claims/evidence" {
		t.Errorf("where: %q", st.where())
	}
}

// TestStalledPatchYieldsToOtherInstance: a phone's PATCH stalls on instance
// A (the network is gone but the connection is not closed yet) and the
// phone comes back through instance B. B's HEAD must wait for A's request
// to end, which the shared lock asks A for, and then tell the true offset;
// answering while A still writes would let two writers interleave.
func TestStalledPatchYieldsToOtherInstance(t *testing.T) {
	backends(t, func(t *testing.T, storage func() string) {
		rdb := newRedis(t)
		a := newInstance(t, storage(), rdb, 20<<20)
		b := newInstance(t, storage(), rdb, 20<<20)
		pdf := fakePDF(t, 6<<20)
		url, _ := create(t, a, "alice", "a.pdf", "application/pdf", int64(len(pdf)))
		pr, pw := io.Pipe()
		defer pw.Close()
		req := tusReq(t, http.MethodPatch, url, "alice", pr)
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", "0")
		req.ContentLength = int64(len(pdf))
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
		if _, err := pw.Write(pdf[:1<<20]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // A holds the lock, waiting for more

		urlB := b.srv.URL + "/uploads/" + idOf(url)
		start := time.Now()
		off, code := head(t, urlB, "alice")
		select {
		case <-aDone:
		default:
			t.Fatalf("B answered HEAD (offset %d) while A's PATCH still held the upload", off)
		}
		if code != http.StatusOK || off > 1<<20 {
			t.Fatalf("HEAD on B: %d, offset %d", code, off)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("B waited %v for A to let go", d)
		}
		sendAll(t, urlB, "alice", off, pdf, 2<<20)
		f, err := b.svc.Check(context.Background(), idOf(url), "alice", Limits{})
		sum := sha256.Sum256(pdf)
		if err != nil || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("after resuming on B: %+v, %v", f, err)
		}
	})
}

// TestStripGPSMalformed: a broken or cut JPEG head is an error (the file is
// then refused, as it cannot be shown to carry no location), never a panic.
func TestStripGPSMalformed(t *testing.T) {
	photo, _ := gpsJPEG(t)
	cases := map[string][]byte{
		"empty":              {},
		"not a jpeg":         []byte("%PDF-1.7"),
		"cut in a segment":   photo[:40],
		"cut after a marker": photo[:5],
		"no marker":          {0xFF, 0xD8, 0x00, 0x01, 0x02, 0x03},
		"length below 2":     {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 0, 0},
	}
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := stripGPS(append([]byte(nil), head...)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// A GPS pointer past the end of the EXIF, and an IFD claiming more
	// entries than there are bytes, change nothing and do not panic.
	const tiff = 12 // SOI, APP1 marker and length, "Exif\0\0"
	pointer := append([]byte(nil), photo...)
	binary.BigEndian.PutUint32(pointer[tiff+30:], 0xFFFFFF00)
	count := append([]byte(nil), photo...)
	binary.BigEndian.PutUint16(count[tiff+38:], 0xFFFF)
	for name, bad := range map[string][]byte{"pointer": pointer, "count": count} {
		before := append([]byte(nil), bad[tiff:tiff+92]...)
		if _, err := stripGPS(bad); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !bytes.Equal(before, bad[tiff:tiff+92]) {
			t.Errorf("%s: the EXIF was changed", name)
		}
	}
	// Already stripped: nothing more to change.
	clean := append([]byte(nil), photo...)
	if changed, err := stripGPS(clean); !changed || err != nil {
		t.Fatalf("first pass: %v %v", changed, err)
	}
	if changed, err := stripGPS(clean); changed || err != nil {
		t.Fatalf("second pass changed %v, %v", changed, err)
	}
}

// TestMetrics counts uploads started, finished, refused by reason, and the
// bytes kept.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20, func(c *Config) { c.Metrics = reg })
	ctx := context.Background()
	data := fakePDF(t, 3000)
	url, _ := create(t, in, "alice", "a.pdf", "application/pdf", 3000)
	sendAll(t, url, "alice", 0, data, 3000)
	create(t, in, "alice", "big.pdf", "application/pdf", 1<<20+1)
	page := []byte("<!DOCTYPE html><html><body>x</body></html>")
	html, _ := create(t, in, "alice", "x.pdf", "application/pdf", int64(len(page)))
	patch(t, html, "alice", 0, page)
	head(t, url, "bob")
	half, _ := create(t, in, "alice", "h.pdf", "application/pdf", 3000)
	patch(t, half, "alice", 0, data[:100])
	in.svc.Check(ctx, idOf(half), "alice", Limits{})
	in.svc.Check(ctx, "0123456789abcdef", "alice", Limits{})

	want := map[string]float64{
		"claimbot_uploads_started_total":     3,
		"claimbot_uploads_finished_total":    1,
		"claimbot_upload_bytes_stored_total": 3000,
	}
	for name, v := range want {
		if got := testutil.ToFloat64(collector(t, reg, name)); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	for reason, v := range map[string]float64{reasonType: 1, reasonSize: 1, reasonNotYours: 1, reasonUnfinished: 1, reasonUnknown: 1} {
		if got := testutil.ToFloat64(in.svc.metrics.refused.WithLabelValues(reason)); got != v {
			t.Errorf("refused %s = %v, want %v", reason, got, v)
		}
	}
}

func collector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"},
				func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
