package unicloud

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
)

const (
	testAppID    = "wx0000000000000001"
	testSecret   = "s3cr3t-of-the-first-app-0123456789"
	testAppID2   = "wx0000000000000002"
	testSecret2  = "s3cr3t-of-the-second-app-987654321"
	testH5AppID  = "wx00000000000000a5"
	testH5Secret = "s3cr3t-of-the-official-account-555"
)

// recorder wraps the emulator and keeps the last request per path, so tests
// can see what the gateway sent to the provider.
type recorder struct {
	emu  *emulator.Server
	mu   sync.Mutex
	last map[string][]byte
	raw  map[string]string // last raw query per path
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.last[r.URL.Path] = body
	rc.raw[r.URL.Path] = r.URL.RawQuery
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.emu.ServeHTTP(w, r)
}

func (rc *recorder) lastBody(path string) []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.last[path]
}

type gateway struct {
	t       *testing.T
	base    string
	emu     *emulator.Server
	rec     *recorder
	emuURL  string
	logFile string
}

func newEmulator(t *testing.T, latency time.Duration) (*emulator.Server, *recorder, string) {
	emu := emulator.New(emulator.Config{
		WeixinApps:             map[string]string{testAppID: testSecret, testAppID2: testSecret2},
		WeixinOfficialAccounts: map[string]string{testH5AppID: testH5Secret},
	})
	rec := &recorder{emu: emu, last: map[string][]byte{}, raw: map[string]string{}}
	var h http.Handler = rec
	if latency > 0 {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/wxa/msg_sec_check" {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if bytes.Contains(body, []byte(`"slow"`)) {
					time.Sleep(latency)
				}
			}
			rec.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return emu, rec, srv.URL
}

// gatewayBlock is the unicloud_openapi block the tests use.
func gatewayBlock(endpoint, extra string) string {
	return fmt.Sprintf(`unicloud_openapi weixin {
			app_id    %s
			secret    {env.UNICLOUD_TEST_SECRET}
			app       %s %s
			h5_app_id %s
			h5_secret %s
			endpoint  %s
			allow_raw /wxa/ /cgi-bin/message/
			timeout   2s
			max_body  64KB
			%s
		}`, testAppID, testAppID2, testSecret2, testH5AppID, testH5Secret, endpoint, extra)
}

func startGateway(t *testing.T, extra string) *gateway {
	t.Setenv("UNICLOUD_TEST_SECRET", testSecret)
	emu, rec, emuURL := newEmulator(t, 2500*time.Millisecond)
	dir := t.TempDir()
	addr := freeAddr(t)
	logFile := filepath.Join(dir, "caddy.log")
	cf := globalOptions(filepath.Join(dir, "storage"), logFile) + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
	handle /metrics {
		metrics
	}
}
`, addr, gatewayBlock(emuURL, extra))
	loadCaddy(t, cf)
	return &gateway{t: t, base: "http://" + addr, emu: emu, rec: rec, emuURL: emuURL, logFile: logFile}
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	obj    map[string]any
}

func (g *gateway) do(method, path, contentType string, body []byte, header map[string]string) answer {
	g.t.Helper()
	h := headerPairs(contentType)
	for k, v := range header {
		h.Set(k, v)
	}
	r := testSend(g.t, method, g.base+path, h, body)
	a := answer{status: r.Status, header: r.Header, raw: r.Body}
	if strings.Contains(r.Header.Get("Content-Type"), "json") && method != http.MethodHead {
		if err := json.Unmarshal(r.Body, &a.obj); err != nil {
			g.t.Fatalf("%s %s: answer is not JSON: %s", method, path, r.Body)
		}
	}
	return a
}

func (g *gateway) post(path string, body any) answer {
	g.t.Helper()
	b, _ := json.Marshal(body)
	return g.do(http.MethodPost, path, "application/json", b, nil)
}

func (a answer) expect(t *testing.T, status int, errCode any) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if errCode != nil && fmt.Sprint(a.obj["errCode"]) != fmt.Sprint(errCode) {
		t.Fatalf("errCode %v, want %v: %s", a.obj["errCode"], errCode, a.raw)
	}
	return a
}

func (a answer) str(key string) string {
	s, _ := a.obj[key].(string)
	return s
}

func TestOpenAPIAuthAndSession(t *testing.T) {
	g := startGateway(t, "")

	// Three spellings of the login code, two spellings of the path. A code
	// works once: login-1.b is the same emulated user's next login.
	var openid string
	for i, body := range []map[string]any{{"code": "login-1"}, {"jsCode": "login-1.b"}, {"js_code": "login-1.c"}} {
		path := "/wx/auth/code2Session"
		if i == 1 {
			path = "/wx/auth.code2Session"
		}
		a := g.post(path, body).expect(t, 200, 0)
		if a.str("openid") == "" || a.str("errMsg") != "ok" {
			t.Fatalf("code2Session: %s", a.raw)
		}
		if _, leaked := a.obj["sessionKey"]; leaked {
			t.Fatalf("sessionKey returned without expose_session_key: %s", a.raw)
		}
		if bytes.Contains(a.raw, []byte("session_key")) {
			t.Fatalf("session_key in answer: %s", a.raw)
		}
		if openid != "" && a.str("openid") != openid {
			t.Fatalf("the same user logged in as %q, then %q", openid, a.str("openid"))
		}
		openid = a.str("openid")
	}
	// A code used once is WeChat's 40163, passed on.
	g.post("/wx/auth/code2Session", map[string]any{"code": "login-1"}).expect(t, 200, 40163)
	// The alias and GET with a query string.
	a := g.do(http.MethodGet, "/wx/auth/getOpenid?code=login-1.d", "", nil, nil).expect(t, 200, 0)
	if a.str("openid") != openid {
		t.Fatalf("getOpenid gave %q, code2Session %q", a.str("openid"), openid)
	}
	// The provider's error is passed on with HTTP 200.
	g.post("/wx/auth/code2Session", map[string]any{"code": "invalid"}).expect(t, 200, 40029)
	g.post("/wx/auth/code2Session", map[string]any{}).expect(t, 400, "UNICLOUD_BAD_REQUEST")

	// decrypt.getPhoneNumber by openid: the gateway kept the session key.
	resp, err := testClient.Get(g.emuURL + "/_emulator/weixin/phone?appid=" + testAppID + "&openid=" + openid)
	if err != nil {
		t.Fatal(err)
	}
	var phone map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&phone)
	resp.Body.Close()
	a = g.post("/wx/decrypt/getPhoneNumber", map[string]any{
		"openid": openid, "encryptedData": phone["encryptedData"], "iv": phone["iv"],
	}).expect(t, 200, 0)
	if a.str("phoneNumber") != phone["phoneNumber"] || a.str("countryCode") != "86" {
		t.Fatalf("decrypted %s, want phone %v", a.raw, phone["phoneNumber"])
	}
	// The same shape as phoneNumber.getPhoneNumber's phoneInfo.
	if wm, _ := a.obj["watermark"].(map[string]any); wm["appId"] != testAppID {
		t.Fatalf("watermark not in the gateway's casing: %s", a.raw)
	}
	// Data of another app (watermark) is refused.
	a = g.post("/wx/decrypt/getPhoneNumber", map[string]any{
		"openid": openid, "encryptedData": phone["encryptedData"], "iv": phone["iv"], "appId": testAppID2,
	})
	a.expect(t, 400, "UNICLOUD_BAD_REQUEST")
	g.post("/wx/decrypt/getPhoneNumber", map[string]any{
		"openid": "nobody", "encryptedData": phone["encryptedData"], "iv": phone["iv"],
	}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
}

func TestOpenAPIExposeSessionKey(t *testing.T) {
	g := startGateway(t, "expose_session_key")
	a := g.post("/wx/auth/code2Session", map[string]any{"code": "login-2"}).expect(t, 200, 0)
	if a.str("sessionKey") == "" {
		t.Fatalf("expose_session_key set but no sessionKey: %s", a.raw)
	}
}

func TestOpenAPICatalogFamilies(t *testing.T) {
	g := startGateway(t, "")
	// Messages go to users who logged in (WeChat answers 40003 otherwise).
	user := g.post("/wx/auth/code2Session", map[string]any{"code": "catalog-user"}).expect(t, 200, 0).str("openid")
	cases := []struct {
		api   string
		body  map[string]any
		field string // a camelCase field the answer must have
	}{
		{"auth/getPaidUnionId", map[string]any{"openid": user, "transactionId": "420000"}, "unionid"},
		{"analysis/getDailyRetain", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "refDate"},
		{"analysis/getMonthlyRetain", map[string]any{"begin_date": "20240101", "end_date": "20240131"}, "refDate"},
		{"analysis/getWeeklyRetain", map[string]any{"beginDate": "20240101", "endDate": "20240107"}, "refDate"},
		{"analysis/getDailySummary", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "list"},
		{"analysis/getDailyVisitTrend", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "list"},
		{"analysis/getMonthlyVisitTrend", map[string]any{"beginDate": "20240101", "endDate": "20240131"}, "list"},
		{"analysis/getWeeklyVisitTrend", map[string]any{"beginDate": "20240101", "endDate": "20240107"}, "list"},
		{"analysis/getUserPortrait", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "refDate"},
		{"analysis/getVisitDistribution", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "list"},
		{"analysis/getVisitPage", map[string]any{"beginDate": "20240101", "endDate": "20240101"}, "list"},
		{"customerServiceMessage/send", map[string]any{"touser": user, "msgtype": "text", "text": map[string]any{"content": "hi"}}, "errMsg"},
		{"customerServiceMessage/setTyping", map[string]any{"touser": user, "command": "Typing"}, "errMsg"},
		{"phoneNumber/getPhoneNumber", map[string]any{"code": "phone-code"}, "phoneInfo"},
		{"urlscheme/generate", map[string]any{"jumpWxa": map[string]any{"path": "pages/index/index"}, "isExpire": false}, "openlink"},
		{"urllink/generate", map[string]any{"path": "pages/index/index", "query": "a=1"}, "urlLink"},
		{"security/msgSecCheck", map[string]any{"content": "hello", "version": 2, "scene": 2, "openid": user}, "result"},
		{"subscribeMessage/send", map[string]any{"touser": user, "templateId": "tpl", "data": map[string]any{"thing1": map[string]any{"value": "x"}}}, "errMsg"},
		{"uniformMessage/send", map[string]any{"touser": user, "templateId": "tpl", "url": "https://example.com", "data": map[string]any{"keyword1": map[string]any{"value": "x"}}}, "errMsg"},
		{"h5/templateMessage/send", map[string]any{"touser": "o-oa-user", "templateId": "tpl", "data": map[string]any{"keyword1": map[string]any{"value": "x"}}}, "errMsg"},
		{"livebroadcast/getLiveInfo", map[string]any{"pageIndex": 2, "pageSize": 5}, "roomInfo"},
		{"img/aiCrop", map[string]any{"imgUrl": "https://example.com/a.png"}, "results"},
		{"img/scanQRCode", map[string]any{"imgUrl": "https://example.com/a.png"}, "codeResults"},
		{"img/superresolution", map[string]any{"imgUrl": "https://example.com/a.png"}, "mediaId"},
		{"request", map[string]any{"method": "POST", "url": "wxa/generate_urllink", "data": map[string]any{"path": "pages/index/index"}}, "urlLink"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.api, "/", "."), func(t *testing.T) {
			a := g.post("/wx/"+c.api, c.body).expect(t, 200, 0)
			if _, ok := a.obj[c.field]; !ok {
				t.Fatalf("answer has no %q: %s", c.field, a.raw)
			}
			if bytes.Contains(a.raw, []byte(`"errcode"`)) || bytes.Contains(a.raw, []byte("_")) && bytes.Contains(a.raw, []byte(`"ref_date"`)) {
				t.Fatalf("answer not camelCased: %s", a.raw)
			}
		})
	}

	// A POST's parameters travel in its body: the query string holds the
	// token only (WeChat's front ends refuse long URLs, and URLs are
	// logged).
	for _, path := range []string{"/wxa/generate_urllink", "/wxa/msg_sec_check", "/cgi-bin/message/subscribe/send", "/datacube/getweanalysisappiddailyretaininfo"} {
		g.rec.mu.Lock()
		raw := g.rec.raw[path]
		g.rec.mu.Unlock()
		q, _ := url.ParseQuery(raw)
		if len(q) != 1 || q.Get("access_token") == "" {
			t.Errorf("%s was called with query %q, want the access token only", path, raw)
		}
	}
	// GET with a query string: documented numbers and booleans are read
	// from their text.
	a := g.do(http.MethodGet, "/wx/urllink/generate?path=pages/index/index&isExpire=true&expireType=1&expireInterval=5", "", nil, nil).expect(t, 200, 0)
	if a.str("urlLink") == "" {
		t.Fatalf("GET urllink: %s", a.raw)
	}
	a = g.do(http.MethodGet, "/wx/livebroadcast/getLiveInfo?pageIndex=2&pageSize=5", "", nil, nil).expect(t, 200, 0)
	if rooms, _ := a.obj["roomInfo"].([]any); len(rooms) != 5 {
		t.Fatalf("GET getLiveInfo: %s", a.raw)
	}

	// What reached the provider: snake_case, paging mapped, template data
	// verbatim, uniformMessage nested with the official account's appid.
	var sent map[string]any
	_ = json.Unmarshal(g.rec.lastBody("/wxa/business/getliveinfo"), &sent)
	if fmt.Sprint(sent["start"]) != "5" || fmt.Sprint(sent["limit"]) != "5" {
		t.Errorf("getliveinfo got %v, want start 5 limit 5", sent)
	}
	sent = nil
	_ = json.Unmarshal(g.rec.lastBody("/cgi-bin/message/wxopen/template/uniform_send"), &sent)
	mp, _ := sent["mp_template_msg"].(map[string]any)
	if mp["appid"] != testH5AppID || mp["template_id"] != "tpl" {
		t.Errorf("uniform_send got %v", sent)
	}
	// To an openid that never logged in: WeChat's 40003, passed on.
	g.post("/wx/subscribeMessage/send", map[string]any{
		"touser": "oNeverLoggedIn", "templateId": "tpl", "data": map[string]any{"thing1": map[string]any{"value": "x"}},
	}).expect(t, 200, 40003)
	// Template data keys are the caller's own: never converted.
	a = g.post("/wx/subscribeMessage/send", map[string]any{
		"touser": user, "templateId": "tpl", "miniprogramState": "formal",
		"data": map[string]any{"thing1": map[string]any{"value": "x"}, "characterString2": map[string]any{"value": "y"}},
	}).expect(t, 200, 0)
	_ = a
	sent = nil
	_ = json.Unmarshal(g.rec.lastBody("/cgi-bin/message/subscribe/send"), &sent)
	data, _ := sent["data"].(map[string]any)
	if _, ok := data["characterString2"]; !ok || sent["template_id"] != "tpl" || sent["miniprogram_state"] != "formal" {
		t.Errorf("subscribe/send got %v: data must be verbatim, the rest snake_case", sent)
	}
}

func TestOpenAPIBinaryAndUploads(t *testing.T) {
	g := startGateway(t, "")
	// The PNG itself.
	a := g.post("/wx/wxacode/getUnlimited", map[string]any{"scene": "a=1", "page": "pages/index/index", "checkPath": false}).expect(t, 200, nil)
	if a.header.Get("Content-Type") != "image/png" {
		t.Fatalf("content type %q", a.header.Get("Content-Type"))
	}
	if _, err := png.Decode(bytes.NewReader(a.raw)); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	// Base64 on request.
	a = g.post("/wx/wxacode/get", map[string]any{"path": "pages/index/index", "encoding": "base64"}).expect(t, 200, 0)
	img, err := base64.StdEncoding.DecodeString(a.str("buffer"))
	if err != nil || a.str("contentType") != "image/png" {
		t.Fatalf("base64 answer: %s", a.raw)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("buffer is not a PNG: %v", err)
	}
	b, _ := json.Marshal(map[string]any{"path": "pages/index/index"})
	a = g.do(http.MethodPost, "/wx/wxacode/createQRCode", "application/json", b, map[string]string{"Accept": "application/json"}).expect(t, 200, 0)
	if a.str("buffer") == "" {
		t.Fatalf("Accept: application/json gave %s", a.raw)
	}
	// A library's default Accept (axios: JSON, text, anything) still gets
	// the image.
	a = g.do(http.MethodPost, "/wx/wxacode/createQRCode", "application/json", b, map[string]string{"Accept": "application/json, text/plain, */*"}).expect(t, 200, nil)
	if a.header.Get("Content-Type") != "image/png" {
		t.Fatalf("Accept with */* gave %s", a.header.Get("Content-Type"))
	}
	// A provider error instead of an image: converted JSON, HTTP 200.
	a = g.post("/wx/wxacode/getUnlimited", map[string]any{"scene": "a=1", "page": "/pages/bad?x"}).expect(t, 200, 41030)
	if a.str("errMsg") == "" {
		t.Fatalf("provider error without errMsg: %s", a.raw)
	}
	g.post("/wx/wxacode/getUnlimited", map[string]any{"scene": ""}).expect(t, 400, "UNICLOUD_BAD_REQUEST")

	// Upload as multipart, then fetch it back as the binary getTempMedia.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("type", "image")
	fw, _ := mw.CreateFormFile("media", "a.png")
	_, _ = fw.Write(img)
	_ = mw.Close()
	a = g.do(http.MethodPost, "/wx/customerServiceMessage/uploadTempMedia", mw.FormDataContentType(), buf.Bytes(), nil).expect(t, 200, 0)
	mediaID := a.str("mediaId")
	if mediaID == "" || a.obj["createdAt"] == nil {
		t.Fatalf("upload answer: %s", a.raw)
	}
	a = g.post("/wx/customerServiceMessage/getTempMedia", map[string]any{"mediaId": mediaID}).expect(t, 200, nil)
	if !bytes.Equal(a.raw, img) {
		t.Fatalf("getTempMedia returned %d bytes, uploaded %d", len(a.raw), len(img))
	}
	// Upload as base64 JSON (uniCloud's shape) and vk's base64 parameter.
	a = g.post("/wx/customerServiceMessage/uploadTempMedia", map[string]any{
		"type": "image", "media": map[string]any{"contentType": "image/png", "value": base64.StdEncoding.EncodeToString(img)},
	}).expect(t, 200, 0)
	if a.str("mediaId") == "" {
		t.Fatalf("base64 upload: %s", a.raw)
	}
	g.post("/wx/security/imgSecCheck", map[string]any{"base64": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)}).expect(t, 200, 0)
	g.post("/wx/img/aiCrop", map[string]any{"img": map[string]any{"contentType": "image/png", "value": base64.StdEncoding.EncodeToString(img)}}).expect(t, 200, 0)
	// Unknown media: the provider's error, converted.
	g.post("/wx/customerServiceMessage/getTempMedia", map[string]any{"mediaId": "nope"}).expect(t, 200, 40007)
	g.post("/wx/customerServiceMessage/uploadTempMedia", map[string]any{"type": "image"}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
}

func TestOpenAPIGatewayErrors(t *testing.T) {
	g := startGateway(t, "")
	g.post("/wx/nothing/here", map[string]any{}).expect(t, 404, "UNICLOUD_API_NOT_FOUND")
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions} {
		a := g.do(m, "/wx/auth/code2Session?code=c", "", nil, nil)
		if a.status != http.StatusMethodNotAllowed || !strings.Contains(a.header.Get("Allow"), "POST") {
			t.Errorf("%s: status %d, Allow %q", m, a.status, a.header.Get("Allow"))
		}
	}
	g.post("/wx/auth/getAccessToken", map[string]any{}).expect(t, 403, "UNICLOUD_API_NOT_ALLOWED")
	g.post("/wx/request", map[string]any{"url": "/sns/jscode2session"}).expect(t, 403, "UNICLOUD_API_NOT_ALLOWED")
	g.post("/wx/request", map[string]any{"url": "/wxa/../sns/jscode2session"}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	for _, u := range []string{"/wxa/%2e%2e/cgi-bin/token", "/wxa/%2E%2E/sns/jscode2session", "/wxa/.%2e/x", "/cgi-bin/message/%2e%2e/%2e%2e/sns/x", "/wxa/%252e%252e/x", "/wxa/a%00b"} {
		g.post("/wx/request", map[string]any{"url": u}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	}
	g.post("/wx/request", map[string]any{"url": "https://evil.example/wxa/x"}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	g.post("/wx/auth/code2Session", map[string]any{"code": "x", "appId": "wx-unknown"}).expect(t, 400, "UNICLOUD_APP_NOT_FOUND")
	b, _ := json.Marshal(map[string]any{"code": "x"})
	g.do(http.MethodPost, "/wx/auth/code2Session", "application/json", b, map[string]string{"X-Unicloud-App-Id": "wx-unknown"}).expect(t, 400, "UNICLOUD_APP_NOT_FOUND")
	g.do(http.MethodPost, "/wx/auth/code2Session", "application/json", []byte(`{"code":`), nil).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	g.do(http.MethodPost, "/wx/auth/code2Session", "application/json", []byte(`[1,2]`), nil).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	a := g.post("/wx/analysis/getDailyRetain", map[string]any{"beginDate": "20240101"}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	if !strings.Contains(a.str("errMsg"), "endDate") {
		t.Errorf("errMsg does not name the parameter: %s", a.raw)
	}
	a = g.post("/wx/wxacode/get", map[string]any{"path": "p", "width": "big"}).expect(t, 400, "UNICLOUD_BAD_REQUEST")
	if !strings.Contains(a.str("errMsg"), "width") {
		t.Errorf("errMsg does not name the parameter: %s", a.raw)
	}
	big := bytes.Repeat([]byte("a"), 70<<10)
	g.post("/wx/security/msgSecCheck", map[string]any{"content": string(big)}).expect(t, 413, "UNICLOUD_BODY_TOO_LARGE")
	// Provider too slow (the test emulator delays msg_sec_check 2.5s; timeout 2s).
	g.post("/wx/security/msgSecCheck", map[string]any{"content": "slow"}).expect(t, 504, "UNICLOUD_UPSTREAM_TIMEOUT")
	// The second app is chosen per call and gets its own token.
	g.post("/wx/urllink/generate", map[string]any{"path": "pages/index/index", "appId": testAppID2}).expect(t, 200, 0)
	if st := g.emu.Stats(); st.TokenIssues[testAppID2].Stable != 1 {
		t.Errorf("second app token issues: %+v", st.TokenIssues)
	}
}

func TestOpenAPIUpstreamFailures(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_SECRET", "wrong-secret-value")
	dir := t.TempDir()
	addr := freeAddr(t)
	_, _, emuURL := newEmulator(t, 0)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/stable_token" {
			_, _ = io.WriteString(w, `{"access_token":"tok-from-flaky","expires_in":7200}`)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer down.Close()
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
	handle_path /flaky/* {
		unicloud_openapi weixin {
			app_id %s
			secret x
			endpoint %s
		}
	}
	handle_path /dead/* {
		unicloud_openapi weixin {
			app_id %s
			secret x
			endpoint http://127.0.0.1:1
			timeout 1s
		}
	}
}
`, addr, gatewayBlock(emuURL, ""), testAppID, down.URL, testAppID)
	loadCaddy(t, cf)
	g := &gateway{t: t, base: "http://" + addr}
	a := g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_TOKEN_UNAVAILABLE")
	if strings.Contains(string(a.raw), "wrong-secret-value") {
		t.Fatal("secret in answer")
	}
	g.post("/flaky/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	g.post("/dead/auth/code2Session", map[string]any{"code": "c"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	// Unreachable is unreachable, whether the call needs a token or not.
	g.post("/dead/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
}

func TestOpenAPILogsHoldNoSecret(t *testing.T) {
	g := startGateway(t, "expose_session_key")
	g.post("/wx/auth/code2Session", map[string]any{"code": "login-log"}).expect(t, 200, 0)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	g.emu.RevokeTokens(testAppID)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	g.post("/wx/h5/templateMessage/send", map[string]any{"touser": "o", "templateId": "t", "data": map[string]any{}}).expect(t, 200, nil)
	g.post("/wx/nothing", map[string]any{}).expect(t, 404, nil)
	logs, err := os.ReadFile(g.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("no logs were written")
	}
	tokenFiles, _ := filepath.Glob(filepath.Join(filepath.Dir(g.logFile), "storage", "unicloud", "tokens", "*.json"))
	var secrets []string
	for _, f := range tokenFiles {
		var tok struct {
			Value string `json:"value"`
		}
		raw, _ := os.ReadFile(f)
		_ = json.Unmarshal(raw, &tok)
		secrets = append(secrets, tok.Value)
	}
	if len(secrets) == 0 {
		t.Fatal("no token in storage to look for")
	}
	secrets = append(secrets, testSecret, testSecret2, testH5Secret)
	for _, s := range secrets {
		if s != "" && bytes.Contains(logs, []byte(s)) {
			t.Fatalf("a secret or token appears in the logs")
		}
	}
}

func TestOpenAPIMetrics(t *testing.T) {
	g := startGateway(t, "")
	// Collectors are per process and other tests count too: compare before
	// and after.
	scrape := func() map[string]float64 { return scrapeMetrics(t, g.base+"/metrics") }
	before := scrape()
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	g.post("/wx/auth/code2Session", map[string]any{"code": "invalid"}).expect(t, 200, 40029)
	g.post("/wx/nothing", map[string]any{}).expect(t, 404, nil)
	after := scrape()
	for name, delta := range map[string]float64{
		`caddy_unicloud_openapi_calls_total{api="urllink.generate",outcome="ok",provider="weixin"}`:              2,
		`caddy_unicloud_openapi_calls_total{api="auth.code2Session",outcome="provider_error",provider="weixin"}`: 1,
		`caddy_unicloud_openapi_calls_total{api="unknown",outcome="UNICLOUD_API_NOT_FOUND",provider="weixin"}`:   1,
		`caddy_unicloud_provider_errors_total{api="auth.code2Session",errcode="40029",provider="weixin"}`:        1,
		`caddy_unicloud_token_fetches_total{kind="access_token",provider="weixin",result="ok"}`:                  1,
	} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s went up by %v, want %v", name, got, delta)
		}
	}
}

func TestOpenAPIBinaryAnswerThatIsAPage(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/stable_token" {
			_, _ = io.WriteString(w, `{"access_token":"tok","expires_in":7200}`)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>gateway error</html>")
	}))
	defer page.Close()
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(t.TempDir(), "")+fmt.Sprintf(`
http://%s {
	unicloud_openapi weixin {
		app_id   %s
		secret   x
		endpoint %s
	}
}
`, addr, testAppID, page.URL))
	g := &gateway{t: t, base: "http://" + addr}
	g.post("/wxacode/getUnlimited", map[string]any{"scene": "a"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	g.post("/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
}

func TestOpenAPIAnswersNeverEchoSecrets(t *testing.T) {
	const secret = "echoed-app-secret-0123456789"
	var token string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			token = "echo-token-" + strings.Repeat("x", 40)
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, token)
		case "/sns/jscode2session":
			_, _ = fmt.Fprintf(w, `{"errcode":40029,"errmsg":"invalid code, secret %s"}`, r.URL.Query().Get("secret"))
		default:
			_, _ = fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","seen":%q,"secret":%q}`, r.URL.Query().Get("access_token"), secret)
		}
	}))
	defer echo.Close()
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(t.TempDir(), "")+fmt.Sprintf(`
http://%s {
	unicloud_openapi weixin {
		app_id    %s
		secret    %s
		endpoint  %s
		allow_raw /wxa/
	}
}
`, addr, testAppID, secret, echo.URL))
	g := &gateway{t: t, base: "http://" + addr}
	for _, a := range []answer{
		g.post("/request", map[string]any{"url": "/wxa/leak"}).expect(t, 200, 0),
		g.post("/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0),
		g.post("/auth/code2Session", map[string]any{"code": "c"}).expect(t, 200, 40029),
	} {
		if token == "" || bytes.Contains(a.raw, []byte(token)) || bytes.Contains(a.raw, []byte(secret)) {
			t.Fatalf("answer holds the gateway's token or secret: %s", a.raw)
		}
	}
	// A caller's own token is theirs: not hidden from them.
	a := g.post("/urllink/generate", map[string]any{"path": "p", "accessToken": "callers-own-token-value"}).expect(t, 200, 0)
	if a.str("seen") != "callers-own-token-value" {
		t.Fatalf("caller's own token: %s", a.raw)
	}
}

func TestOpenAPIFollowsNoRedirect(t *testing.T) {
	var stolen atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer elsewhere.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(t.TempDir(), "")+fmt.Sprintf(`
http://%s {
	unicloud_openapi weixin {
		app_id   %s
		secret   %s
		endpoint %s
	}
}
`, addr, testAppID, testSecret, redirecting.URL))
	g := &gateway{t: t, base: "http://" + addr}
	g.post("/auth/code2Session", map[string]any{"code": "c"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	g.post("/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, nil)
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the gateway followed a redirect to another host %d times (secret and token sent there)", n)
	}
}

// What a caller sees when it gets a call wrong, through Caddy: the
// documented error shape, naming what to fix.
func TestOpenAPICallerMistakes(t *testing.T) {
	g := startGateway(t, "")
	for name, tc := range map[string]struct {
		method, path, body string
		header             map[string]string
		status             int
		errCode, errMsg    string
	}{
		"appId array":   {"POST", "/wx/urllink/generate", `{"path":"p","appId":["` + testAppID2 + `"]}`, nil, 400, "UNICLOUD_BAD_REQUEST", "parameter must be a string: appId"},
		"appId number":  {"POST", "/wx/urllink/generate", `{"path":"p","appId":2}`, nil, 400, "UNICLOUD_BAD_REQUEST", "parameter must be a string: appId"},
		"appId object":  {"POST", "/wx/urllink/generate", `{"path":"p","appId":{}}`, nil, 400, "UNICLOUD_BAD_REQUEST", "parameter must be a string: appId"},
		"appId bool":    {"POST", "/wx/urllink/generate", `{"path":"p","appId":false}`, nil, 400, "UNICLOUD_BAD_REQUEST", "parameter must be a string: appId"},
		"appId twice":   {"GET", "/wx/urllink/generate?path=p&appId=" + testAppID2 + "&appId=" + testAppID, "", nil, 400, "UNICLOUD_BAD_REQUEST", "parameter given more than once: appId"},
		"api typo":      {"POST", "/wx/wxacode/getUnlimted", `{}`, nil, 404, "UNICLOUD_API_NOT_FOUND", "unknown API: wxacode/getUnlimted (did you mean wxacode.getUnlimited?)"},
		"body too big":  {"POST", "/wx/security/msgSecCheck", `{"content":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "UNICLOUD_BODY_TOO_LARGE", "request body larger than max_body (64 kB)"},
		"missing param": {"POST", "/wx/subscribeMessage/send", `{"templateId":"tpl","data":{}}`, nil, 400, "UNICLOUD_BAD_REQUEST", "missing required parameter: toUser"},
	} {
		t.Run(name, func(t *testing.T) {
			a := g.do(tc.method, tc.path, "application/json", []byte(tc.body), tc.header).expect(t, tc.status, tc.errCode)
			if a.str("errMsg") != tc.errMsg {
				t.Fatalf("errMsg %q, want %q", a.str("errMsg"), tc.errMsg)
			}
		})
	}
	if st := g.emu.Stats(); st.TokenIssues[testAppID].Stable != 0 || st.TokenIssues[testAppID2].Stable != 0 {
		t.Fatalf("a refused call reached the provider: %+v", st.TokenIssues)
	}
	// A GET with a body is served from its query string, with a warning.
	a := g.do(http.MethodGet, "/wx/urllink/generate?path=pages/index/index", "application/json", []byte(`{"path":"x"}`), nil).expect(t, 200, 0)
	if w := a.header.Get("X-Unicloud-Warning"); !strings.Contains(w, "body of a GET request is ignored") {
		t.Fatalf("X-Unicloud-Warning %q", w)
	}
}

// Binary answers pass as the provider sent them; one that holds the
// gateway's token (an echo of the request, not an image) is refused, and a
// provider that declares a huge answer is refused at once.
func TestOpenAPIBinaryAnswersAndHugeAnswers(t *testing.T) {
	const token = "binary-echo-token-0123456789abcdef"
	image := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 0xff}, 100)...)
	hold := make(chan struct{})
	defer close(hold)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, token)
		case "/wxa/getwxacodeunlimit":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(image)
		case "/wxa/getwxacode":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(append(append([]byte{}, image...), r.URL.RawQuery...))
		case "/wxa/generate_urllink":
			w.Header().Set("Content-Length", "1073741824")
			_, _ = io.WriteString(w, `{"errcode":0,`)
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
	}))
	defer fake.Close()
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(t.TempDir(), "")+fmt.Sprintf(`
http://%s {
	unicloud_openapi weixin {
		app_id   %s
		secret   x
		endpoint %s
		timeout  20s
	}
}
`, addr, testAppID, fake.URL))
	g := &gateway{t: t, base: "http://" + addr}
	a := g.post("/wxacode/getUnlimited", map[string]any{"scene": "a"}).expect(t, 200, nil)
	if !bytes.Equal(a.raw, image) {
		t.Fatalf("the image was altered: %q", a.raw)
	}
	a = g.post("/wxacode/get", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	if bytes.Contains(a.raw, []byte(token)) {
		t.Fatalf("token in the answer: %s", a.raw)
	}
	// A read that waited would end at the 20s timeout with a 504.
	a = g.post("/urllink/generate", map[string]any{"path": "p"}).expect(t, 502, "UNICLOUD_UPSTREAM_ERROR")
	if !strings.Contains(a.str("errMsg"), "declares 1073741824 bytes") {
		t.Fatalf("errMsg %q", a.str("errMsg"))
	}
}
