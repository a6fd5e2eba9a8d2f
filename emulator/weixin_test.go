package emulator

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

func code2Session(t *testing.T, s *Server, appid, secret, code string) map[string]any {
	t.Helper()
	return getJSON(t, s, "/sns/jscode2session?"+url.Values{
		"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"},
	}.Encode())
}

func TestCode2Session(t *testing.T) {
	s, _ := newTestServer(t)
	m := code2Session(t, s, testApp, testSecret, "081abcDEF")
	wantErrcode(t, m, 0)
	openid, _ := m["openid"].(string)
	if len(openid) != 28 || openid[0] != 'o' {
		t.Errorf("openid %q: want 28 characters starting with o", openid)
	}
	key, err := base64.StdEncoding.DecodeString(m["session_key"].(string))
	if err != nil || len(key) != 16 || len(m["session_key"].(string)) != 24 {
		t.Errorf("session_key %q: want 24 base64 characters of 16 bytes", m["session_key"])
	}
	if u, _ := m["unionid"].(string); len(u) != 28 {
		t.Errorf("unionid %q", u)
	}

	// A code works once, as on WeChat.
	wantErrcode(t, code2Session(t, s, testApp, testSecret, "081abcDEF"), 40163)
	// The same user logs in again with a new code: the part before "."
	// names the user.
	again := code2Session(t, s, testApp, testSecret, "081abcDEF.2")
	if again["openid"] != openid || again["session_key"] != m["session_key"] || again["unionid"] != m["unionid"] {
		t.Errorf("user 081abcDEF logging in again got another openid, unionid or session key: %v", again)
	}
	other := code2Session(t, s, testApp, testSecret, "081other")
	if other["openid"] == openid || other["session_key"] == m["session_key"] {
		t.Error("another code gave the same openid or session key")
	}
	// A code is the app's: the same text in another app is a new code.
	inApp2 := code2Session(t, s, testApp2, testSecret2, "081abcDEF")
	if inApp2["openid"] == openid || inApp2["unionid"] != m["unionid"] {
		t.Error("in another app the openid should differ and the unionid stay")
	}

	wantErrcode(t, code2Session(t, s, testApp, testSecret, "invalid"), 40029)
	wantErrcode(t, code2Session(t, s, testApp, testSecret, "used"), 40163)
	wantErrcode(t, code2Session(t, s, testApp, testSecret, ""), 41008)
	wantErrcode(t, code2Session(t, s, testApp, "wrong", "abc"), 40125)
	wantErrcode(t, code2Session(t, s, "wxnope", testSecret, "abc"), 40013)
}

// catalogCase is one call of the catalog test: a JSON body, or a file
// (multipart field and bytes), and the fields the answer must have.
type catalogCase struct {
	path   string
	method string // default POST
	query  string
	body   map[string]any
	field  string // multipart file field
	file   []byte
	want   []string // top-level fields besides errcode/errmsg, dotted for nested ones
}

func TestCatalog(t *testing.T) {
	s, _ := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	oaTok, _ := stableToken(t, s, testOA, testOASecret, false)
	openid := code2Session(t, s, testApp, testSecret, "abc")["openid"].(string)
	img := testPNG(t, 40, 30)
	up := decode(t, uploadMedia(s, tok, "image", "media", "a.png", "image/png", img))
	mediaID := up["media_id"].(string)

	dates := map[string]any{"begin_date": "20250220", "end_date": "20250220"}
	tmplData := map[string]any{"thing1": map[string]any{"value": "hello"}}
	cases := []catalogCase{
		{path: "/wxa/getpaidunionid", method: http.MethodGet, query: "openid=" + openid + "&transaction_id=4200001", want: []string{"unionid"}},
		{path: "/datacube/getweanalysisappiddailyretaininfo", body: dates, want: []string{"ref_date", "visit_uv_new.0.key", "visit_uv_new.0.value", "visit_uv.0.value"}},
		{path: "/datacube/getweanalysisappidmonthlyretaininfo", body: map[string]any{"begin_date": "20250101", "end_date": "20250131"}, want: []string{"ref_date", "visit_uv_new.1.key", "visit_uv.1.value"}},
		{path: "/datacube/getweanalysisappidweeklyretaininfo", body: map[string]any{"begin_date": "20250203", "end_date": "20250209"}, want: []string{"ref_date", "visit_uv_new.4.value", "visit_uv.4.value"}},
		{path: "/datacube/getweanalysisappiddailysummarytrend", body: dates, want: []string{"list.0.ref_date", "list.0.visit_total", "list.0.share_pv", "list.0.share_uv"}},
		{path: "/datacube/getweanalysisappiddailyvisittrend", body: dates, want: visitTrendFields},
		{path: "/datacube/getweanalysisappidmonthlyvisittrend", body: map[string]any{"begin_date": "20250101", "end_date": "20250131"}, want: visitTrendFields},
		{path: "/datacube/getweanalysisappidweeklyvisittrend", body: map[string]any{"begin_date": "20250203", "end_date": "20250209"}, want: visitTrendFields},
		{path: "/datacube/getweanalysisappiduserportrait", body: map[string]any{"begin_date": "20250214", "end_date": "20250220"}, want: []string{
			"ref_date", "visit_uv_new.province.0.name", "visit_uv_new.city.0.id", "visit_uv_new.genders.0.value",
			"visit_uv_new.platforms.0.access_source_visit_uv", "visit_uv_new.devices.0.name", "visit_uv_new.ages.0.name", "visit_uv.province.0.value"}},
		{path: "/datacube/getweanalysisappidvisitdistribution", body: dates, want: []string{"ref_date", "list.0.index", "list.0.item_list.0.key", "list.0.item_list.0.value", "list.0.item_list.0.access_source_visit_uv", "list.2.index"}},
		{path: "/datacube/getweanalysisappidvisitpage", body: dates, want: []string{"ref_date", "list.0.page_path", "list.0.page_visit_pv", "list.0.page_visit_uv",
			"list.0.page_staytime_pv", "list.0.entrypage_pv", "list.0.exitpage_pv", "list.0.page_share_pv", "list.0.page_share_uv"}},
		{path: "/cgi-bin/message/custom/send", body: map[string]any{"touser": openid, "msgtype": "text", "text": map[string]any{"content": "hi"}}},
		{path: "/cgi-bin/message/custom/send", body: map[string]any{"touser": openid, "msgtype": "image", "image": map[string]any{"media_id": mediaID}}},
		{path: "/cgi-bin/message/custom/typing", body: map[string]any{"touser": openid, "command": "CancelTyping"}},
		{path: "/cgi-bin/media/upload", query: "type=image", field: "media", file: img, want: []string{"type", "media_id", "created_at"}},
		{path: "/cv/img/aicrop", field: "img", file: img, want: []string{"results.0.crop_left", "results.0.crop_top", "results.0.crop_right", "results.0.crop_bottom", "img_size.w", "img_size.h"}},
		{path: "/cv/img/aicrop", query: "img_url=" + url.QueryEscape("https://example.com/a.jpg"), want: []string{"results.1.crop_left", "img_size.w"}},
		{path: "/cv/img/qrcode", field: "img", file: img, want: []string{"code_results.0.type_name", "code_results.0.data", "code_results.0.pos.left_top.x", "code_results.0.pos.right_bottom.y", "img_size.h"}},
		{path: "/cv/img/superresolution", field: "img", file: img, want: []string{"media_id"}},
		{path: "/cv/img/superresolution", query: "img_url=" + url.QueryEscape("https://example.com/a.jpg"), want: []string{"media_id"}},
		{path: "/wxa/business/getuserphonenumber", body: map[string]any{"code": "e31968a7f94cc5ee25fafc2aef2773f0"}, want: []string{
			"phone_info.phoneNumber", "phone_info.purePhoneNumber", "phone_info.countryCode", "phone_info.watermark.timestamp", "phone_info.watermark.appid"}},
		{path: "/wxa/generatescheme", body: map[string]any{"jump_wxa": map[string]any{"path": "pages/index/index", "query": "a=1", "env_version": "develop"}, "is_expire": true, "expire_type": 1, "expire_interval": 30}, want: []string{"openlink"}},
		{path: "/wxa/generate_urllink", body: map[string]any{"path": "pages/index/index", "query": "a=1&b=2", "is_expire": true, "expire_type": 1, "expire_interval": 90, "env_version": "develop"}, want: []string{"url_link"}},
		{path: "/wxa/msg_sec_check", body: map[string]any{"content": "hello", "version": 2, "scene": 2, "openid": openid}, want: []string{"trace_id", "result.suggest", "result.label", "detail.0.strategy", "detail.0.suggest"}},
		{path: "/wxa/img_sec_check", field: "media", file: img},
		{path: "/wxa/media_check_async", body: map[string]any{"media_url": "https://example.com/a.png", "media_type": 2, "version": 2, "scene": 1, "openid": openid}, want: []string{"trace_id"}},
		{path: "/cgi-bin/message/subscribe/send", body: map[string]any{"touser": openid, "template_id": "tpl", "page": "pages/index/index", "data": tmplData, "miniprogram_state": "formal"}, want: []string{"msgid"}},
		{path: "/cgi-bin/message/wxopen/template/uniform_send", body: map[string]any{"touser": openid, "mp_template_msg": map[string]any{
			"appid": testOA, "template_id": "tpl", "url": "https://example.com", "miniprogram": map[string]any{"appid": testApp, "pagepath": "pages/index/index"}, "data": tmplData}}},
		{path: "/cgi-bin/message/template/send", body: map[string]any{"touser": "oOAUser", "template_id": "tpl", "data": tmplData}, want: []string{"msgid"}},
		{path: "/cgi-bin/ticket/getticket", method: http.MethodGet, query: "type=jsapi", want: []string{"ticket", "expires_in"}},
		{path: "/wxa/business/getliveinfo", body: map[string]any{"start": 0, "limit": 10}, want: []string{"total", "room_info.9.roomid", "room_info.0.name", "room_info.0.live_status",
			"room_info.0.start_time", "room_info.0.end_time", "room_info.0.anchor_name", "room_info.0.cover_img", "room_info.0.goods.0.price"}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.path] = true
		t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) {
			token := tok
			if c.path == "/cgi-bin/message/template/send" || c.path == "/cgi-bin/ticket/getticket" {
				token = oaTok
			}
			target := c.path + "?access_token=" + url.QueryEscape(token)
			if c.query != "" {
				target += "&" + c.query
			}
			var m map[string]any
			switch {
			case c.method == http.MethodGet:
				m = getJSON(t, s, target)
			case c.field != "":
				body, ct := multipartBody(c.field, "a.png", "image/png", c.file)
				m = decode(t, do(s, http.MethodPost, target, body, ct))
			default:
				m = postJSON(t, s, target, c.body)
			}
			wantErrcode(t, m, 0)
			for _, f := range c.want {
				if v := lookup(m, f); v == nil || v == "" {
					t.Errorf("no %s in %v", f, m)
				}
			}
		})
	}

	// Every catalog path answers (the binary ones are tested on their own).
	binary := map[string]bool{"/cgi-bin/media/get": true, "/cgi-bin/wxaapp/createwxaqrcode": true, "/wxa/getwxacode": true, "/wxa/getwxacodeunlimit": true}
	tokens := map[string]bool{"/cgi-bin/token": true, "/cgi-bin/stable_token": true, "/sns/jscode2session": true,
		"/sns/oauth2/access_token": true, "/sns/oauth2/refresh_token": true, "/sns/userinfo": true} // weixin_oauth_test.go
	var missed []string
	for path := range s.weixin().table() {
		if !seen[path] && !binary[path] && !tokens[path] {
			missed = append(missed, path)
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("catalog paths without a test case: %v", missed)
	}
}

var visitTrendFields = []string{"list.0.ref_date", "list.0.session_cnt", "list.0.visit_pv", "list.0.visit_uv", "list.0.visit_uv_new",
	"list.0.stay_time_uv", "list.0.stay_time_session", "list.0.visit_depth"}

// lookup follows a dotted path of object keys and array indexes.
func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestCatalogErrors(t *testing.T) {
	s, _ := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	user := code2Session(t, s, testApp, testSecret, "errors-user")["openid"].(string)
	app2User := code2Session(t, s, testApp2, testSecret2, "errors-user-2")["openid"].(string)
	call := func(path string, body any) map[string]any {
		return postJSON(t, s, path+"?access_token="+url.QueryEscape(tok), body)
	}
	cases := []struct {
		name string
		got  map[string]any
		want int
	}{
		{"datacube without dates", call("/datacube/getweanalysisappidvisitpage", map[string]any{}), 47001},
		{"datacube bad date", call("/datacube/getweanalysisappidvisitpage", map[string]any{"begin_date": "2025-01-01", "end_date": "20250101"}), 61500},
		{"bad JSON", decode(t, do(s, http.MethodPost, "/wxa/generatescheme?access_token="+url.QueryEscape(tok), strings.NewReader("{"), "application/json")), 47001},
		{"POST API by GET", getJSON(t, s, "/wxa/generatescheme?access_token="+url.QueryEscape(tok)), 43002},
		{"unlimited without scene", call("/wxa/getwxacodeunlimit", map[string]any{"page": "pages/index/index"}), 40169},
		{"unlimited scene too long", call("/wxa/getwxacodeunlimit", map[string]any{"scene": strings.Repeat("a", 33)}), 40169},
		{"unlimited bad page", call("/wxa/getwxacodeunlimit", map[string]any{"scene": "a=1", "page": "/pages/index/index"}), 41030},
		{"getwxacode without path", call("/wxa/getwxacode", map[string]any{}), 40159},
		{"createQRCode path too long", call("/cgi-bin/wxaapp/createwxaqrcode", map[string]any{"path": strings.Repeat("p", 129)}), 40159},
		{"phone invalid code", call("/wxa/business/getuserphonenumber", map[string]any{"code": "invalid"}), 40029},
		{"subscribe to an openid never logged in", call("/cgi-bin/message/subscribe/send", map[string]any{"touser": "oNeverLoggedIn", "template_id": "t", "data": map[string]any{"k": map[string]any{"value": "v"}}}), 40003},
		{"subscribe to another app's user", call("/cgi-bin/message/subscribe/send", map[string]any{"touser": app2User, "template_id": "t", "data": map[string]any{"k": map[string]any{"value": "v"}}}), 40003},
		{"uniform_send to an openid never logged in", call("/cgi-bin/message/wxopen/template/uniform_send", map[string]any{"touser": "oNeverLoggedIn",
			"mp_template_msg": map[string]any{"appid": testOA, "template_id": "t", "data": map[string]any{"k": map[string]any{"value": "v"}}}}), 40003},
		{"custom send to an openid never logged in", call("/cgi-bin/message/custom/send", map[string]any{"touser": "oNeverLoggedIn", "msgtype": "text", "text": map[string]any{"content": "hi"}}), 40003},
		{"typing to an openid never logged in", call("/cgi-bin/message/custom/typing", map[string]any{"touser": "oNeverLoggedIn", "command": "Typing"}), 40003},
		{"subscribe without touser", call("/cgi-bin/message/subscribe/send", map[string]any{"template_id": "t", "data": map[string]any{}}), 40003},
		{"subscribe without template_id", call("/cgi-bin/message/subscribe/send", map[string]any{"touser": user, "data": map[string]any{}}), 40037},
		{"subscribe without data", call("/cgi-bin/message/subscribe/send", map[string]any{"touser": user, "template_id": "t"}), 47003},
		{"uniform_send to an unknown account", call("/cgi-bin/message/wxopen/template/uniform_send", map[string]any{"touser": user,
			"mp_template_msg": map[string]any{"appid": "wxnope", "template_id": "t", "data": map[string]any{"k": map[string]any{"value": "v"}}}}), 40013},
		{"custom send bad msgtype", call("/cgi-bin/message/custom/send", map[string]any{"touser": user, "msgtype": "video"}), 40008},
		{"custom send unknown image", call("/cgi-bin/message/custom/send", map[string]any{"touser": user, "msgtype": "image", "image": map[string]any{"media_id": "nope"}}), 40007},
		{"typing bad command", call("/cgi-bin/message/custom/typing", map[string]any{"touser": user, "command": "typing"}), 45072},
		{"msg_sec_check risky v1", call("/wxa/msg_sec_check", map[string]any{"content": "a forbidden-word here"}), 87014},
		{"msg_sec_check v2 without openid", call("/wxa/msg_sec_check", map[string]any{"content": "hi", "version": 2, "scene": 1}), 40003},
		{"scheme with a leading slash", call("/wxa/generatescheme", map[string]any{"jump_wxa": map[string]any{"path": "/pages/index/index"}}), 40165},
		{"urllink bad expire_time", call("/wxa/generate_urllink", map[string]any{"is_expire": true, "expire_time": 1}), 85401},
		{"aicrop without image", call("/cv/img/aicrop", nil), 101000},
		{"media/get unknown", getJSON(t, s, "/cgi-bin/media/get?media_id=nope&access_token="+url.QueryEscape(tok)), 40007},
		{"upload bad type", decode(t, uploadMedia(s, tok, "file", "media", "a.png", "image/png", []byte("x"))), 40004},
		{"upload without media", decode(t, uploadMedia(s, tok, "image", "file", "a.png", "image/png", []byte("x"))), 41005},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErrcode(t, c.got, c.want) })
	}

	risky := call("/wxa/msg_sec_check", map[string]any{"content": "a forbidden-word here", "version": 2, "scene": 2, "openid": "o"})
	wantErrcode(t, risky, 0)
	if lookup(risky, "result.suggest") != "risky" || lookup(risky, "result.label") == json.Number("100") {
		t.Errorf("risky v2 result: %v", risky["result"])
	}
	body, ct := multipartBody("media", "a.png", "image/png", []byte("png with forbidden-word inside"))
	wantErrcode(t, decode(t, do(s, http.MethodPost, "/wxa/img_sec_check?access_token="+url.QueryEscape(tok), body, ct)), 87014)

	page := call("/wxa/business/getliveinfo", map[string]any{"start": 20, "limit": 10})
	if rooms := page["room_info"].([]any); len(rooms) != 3 || page["total"] != json.Number("23") {
		t.Errorf("live page at 20: %d rooms, total %v", len(rooms), page["total"])
	}
}

// testPNG is a small real image.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadMedia posts a file to /cgi-bin/media/upload.
func uploadMedia(s *Server, tok, typ, field, name, ctype string, data []byte) *httptest.ResponseRecorder {
	body, ct := multipartBody(field, name, ctype, data)
	return do(s, http.MethodPost, "/cgi-bin/media/upload?type="+typ+"&access_token="+url.QueryEscape(tok), body, ct)
}

func TestMediaRoundTrip(t *testing.T) {
	s, clock := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	data := []byte("\xff\xd8\xff\xe0 not quite a jpeg")
	m := decode(t, uploadMedia(s, tok, "image", "media", "photo.jpg", "image/jpeg", data))
	wantErrcode(t, m, 0)
	if m["type"] != "image" || len(m["media_id"].(string)) < 32 || m["created_at"] != json.Number("1740823200") {
		t.Errorf("upload answer %v", m)
	}
	get := func(tok string) *httptest.ResponseRecorder {
		return do(s, http.MethodGet, "/cgi-bin/media/get?access_token="+url.QueryEscape(tok)+"&media_id="+url.QueryEscape(m["media_id"].(string)), nil, "")
	}
	w := get(tok)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/jpeg" || !bytes.Equal(w.Body.Bytes(), data) {
		t.Errorf("media/get: HTTP %d, %q, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.Contains(cd, "photo.jpg") {
		t.Errorf("Content-Disposition %q", cd)
	}

	// Media belong to their app, and live three days.
	other, _ := stableToken(t, s, testApp2, testSecret2, false)
	wantErrcode(t, decode(t, get(other)), 40007)
	clock.Add(mediaTTL + 1)
	tok, _ = stableToken(t, s, testApp, testSecret, false)
	wantErrcode(t, decode(t, get(tok)), 40007)
}

func TestSuperresolutionMedia(t *testing.T) {
	s, _ := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	body, ct := multipartBody("img", "a.png", "image/png", testPNG(t, 20, 10))
	m := decode(t, do(s, http.MethodPost, "/cv/img/superresolution?access_token="+url.QueryEscape(tok), body, ct))
	w := do(s, http.MethodGet, "/cgi-bin/media/get?access_token="+url.QueryEscape(tok)+"&media_id="+m["media_id"].(string), nil, "")
	img, err := png.Decode(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 20 {
		t.Errorf("superresolution image is %v, want 40×20", b)
	}
}

func TestWxacodePNG(t *testing.T) {
	s, _ := newTestServer(t)
	tok, _ := stableToken(t, s, testApp, testSecret, false)
	call := func(path string, body map[string]any) *httptest.ResponseRecorder {
		return do(s, http.MethodPost, path+"?access_token="+url.QueryEscape(tok), bytes.NewReader(mustJSON(body)), "application/json")
	}
	cases := []struct {
		path  string
		body  map[string]any
		width int
	}{
		{"/wxa/getwxacodeunlimit", map[string]any{"scene": "id=42&k=v", "page": "pages/index/index", "check_path": false, "env_version": "develop"}, 430},
		{"/wxa/getwxacode", map[string]any{"path": "pages/index/index?x=1", "width": 280, "line_color": map[string]any{"r": 200, "g": "10", "b": 0}}, 280},
		{"/cgi-bin/wxaapp/createwxaqrcode", map[string]any{"path": "pages/index/index", "width": 2000, "is_hyaline": true}, 1280},
	}
	var first []byte
	for _, c := range cases {
		w := call(c.path, c.body)
		if ct := w.Header().Get("Content-Type"); w.Code != 200 || ct != "image/png" {
			t.Fatalf("%s: HTTP %d, Content-Type %q: %.200s", c.path, w.Code, ct, w.Body.String())
		}
		raw := w.Body.Bytes()
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if b := img.Bounds(); b.Dx() != c.width || b.Dy() != c.width {
			t.Errorf("%s: image %v, want %d×%d", c.path, b, c.width, c.width)
		}
		// The top-left finder pattern is dark at its corner, the quiet zone light.
		cell := c.width / 33
		dark, light := img.At(2*cell+cell/2, 2*cell+cell/2), img.At(cell/2, cell/2)
		if !isDark(dark) || isDark(light) {
			t.Errorf("%s: finder %v / quiet zone %v", c.path, dark, light)
		}
		if first == nil {
			first = raw
		}
	}
	colored, _ := png.Decode(call(cases[1].path, cases[1].body).Body)
	if r, g, b, _ := colored.At(280/33*2+2, 280/33*2+2).RGBA(); r>>8 != 200 || g>>8 != 10 || b != 0 {
		t.Errorf("line_color not used: %d %d %d", r>>8, g>>8, b>>8)
	}
	if again := call(cases[0].path, cases[0].body).Body.Bytes(); !bytes.Equal(again, first) {
		t.Error("the same request drew another image")
	}
	if other := call(cases[0].path, map[string]any{"scene": "id=43"}).Body.Bytes(); bytes.Equal(other, first) {
		t.Error("another scene drew the same image")
	}
	hyaline := call(cases[2].path, cases[2].body)
	img, _ := png.Decode(hyaline.Body)
	if _, _, _, a := img.At(1, 1).RGBA(); a != 0 {
		t.Error("is_hyaline background is not transparent")
	}
}

func isDark(c color.Color) bool {
	r, g, b, a := c.RGBA()
	return a > 0 && r+g+b < 3*0x8000
}

func TestPhoneData(t *testing.T) {
	s, clock := newTestServer(t)
	m := code2Session(t, s, testApp, testSecret, "phone-user")
	sessionKey, openid := m["session_key"].(string), m["openid"].(string)

	data, iv, err := s.EncryptedPhoneData(testApp, sessionKey)
	if err != nil {
		t.Fatal(err)
	}
	info := decryptPhone(t, sessionKey, data, iv)
	if info.Watermark.AppID != testApp || info.Watermark.Timestamp != clock.Now().Unix() {
		t.Errorf("watermark %+v", info.Watermark)
	}
	if len(info.PhoneNumber) != 11 || info.PurePhoneNumber != info.PhoneNumber || info.CountryCode != "86" {
		t.Errorf("phone %+v", info)
	}

	hook := getJSON(t, s, "/_emulator/weixin/phone?appid="+testApp+"&openid="+url.QueryEscape(openid))
	wantErrcode(t, hook, 0)
	viaHook := decryptPhone(t, sessionKey, hook["encryptedData"].(string), hook["iv"].(string))
	if viaHook.PhoneNumber != info.PhoneNumber || hook["phoneNumber"] != info.PhoneNumber {
		t.Errorf("hook phone %q / %v, want %q", viaHook.PhoneNumber, hook["phoneNumber"], info.PhoneNumber)
	}
	if w := do(s, http.MethodGet, "/_emulator/weixin/phone?appid="+testApp+"&openid=ounknown", nil, ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown openid: HTTP %d", w.Code)
	}
	if _, _, err := s.EncryptedPhoneData(testApp, "short"); err == nil {
		t.Error("a bad session key was accepted")
	}
}

func decryptPhone(t *testing.T, sessionKey, data, iv string) phoneInfo {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(sessionKey)
	ct, err1 := base64.StdEncoding.DecodeString(data)
	ivb, err2 := base64.StdEncoding.DecodeString(iv)
	if err1 != nil || err2 != nil || len(ivb) != aes.BlockSize || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		t.Fatalf("bad encryptedData/iv: %v %v", err1, err2)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		t.Fatal("bad PKCS#7 padding")
	}
	var info phoneInfo
	if err := json.Unmarshal(plain[:len(plain)-pad], &info); err != nil {
		t.Fatal(err)
	}
	return info
}
