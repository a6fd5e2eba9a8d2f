package unicloud

// Acceptance checks of `unicloud_openapi weixin` (§2), written from the
// contract's text alone: a real Caddy loaded from a Caddyfile, the offline
// unicloud_emulator as WeChat, and a recording proxy (qaProxy) between
// them, so that each check sees the provider requests and answers.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	qawApp     = "wx00000000000qaw01"
	qawSecret  = "qaw-mini-secret-0000000000000001"
	qawApp2    = "wx00000000000qaw02"
	qawSecret2 = "qaw-mini-secret-0000000000000002"
	qawOA      = "wx0000000000qawoa1"
	qawOASec   = "qaw-oa-secret-000000000000000001"
)

type qawGW struct {
	base    string   // the gateway
	emu     string   // the emulator's site (host:port)
	proxy   *qaProxy // the gateway's endpoint, in front of the emulator
	classic *qaProxy // a second endpoint, for the token_mode classic route

	mu      sync.Mutex
	answers [][]byte // every answer the gateway gave, for qawGW.noSecrets
}

// qawStart runs the emulator and a gateway with several routes:
// /wx/ (defaults, a second app, an official account, allow_raw),
// /wxexp/ (expose_session_key), /wxallow/ (allow auth.* wxacode.*),
// /wxtok/ (allow auth.getAccessToken urllink.generate), /wxsmall/
// (max_body 1kB), /wxslow/ (timeout 300ms), /wxclassic/ (token_mode
// classic, its own endpoint), /wxfixed/ (access_token), /wxdead/ (an
// endpoint nothing listens on).
func qawStart(t *testing.T) *qawGW {
	t.Helper()
	dir := t.TempDir()
	emu, gw := freeAddr(t), freeAddr(t)
	g := &qawGW{base: "http://" + gw, emu: emu}
	g.proxy = newQAProxy(t, emu)
	g.classic = newQAProxy(t, emu)
	t.Setenv("QAW_WX_SECRET", qawSecret)
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		weixin_app %[3]s %[4]s
		weixin_app %[5]s %[6]s
		weixin_official_account %[7]s %[8]s
	}
}

http://%[2]s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret {env.QAW_WX_SECRET}
			app %[5]s %[6]s
			h5_app_id %[7]s
			h5_secret %[8]s
			endpoint %[9]s
			allow_raw /wxa/ /cgi-bin/message/
		}
	}
	handle_path /wxexp/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			app %[5]s %[6]s
			endpoint %[9]s
			expose_session_key
		}
	}
	handle_path /wxallow/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[9]s
			allow auth.* wxacode.*
			allow_raw /wxa/
		}
	}
	handle_path /wxtok/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[9]s
			allow auth.getAccessToken urllink.generate
		}
	}
	handle_path /wxsmall/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[9]s
			max_body 1kB
		}
	}
	handle_path /wxslow/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[9]s
			timeout 300ms
		}
	}
	handle_path /wxclassic/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[10]s
			token_mode classic
		}
	}
	handle_path /wxfixed/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint %[9]s
			access_token qaw-fixed-token-0001
		}
	}
	handle_path /wxdead/* {
		unicloud_openapi weixin {
			app_id %[3]s
			secret %[4]s
			endpoint http://127.0.0.1:1
		}
	}
}
`, emu, gw, qawApp, qawSecret, qawApp2, qawSecret2, qawOA, qawOASec, g.proxy.url, g.classic.url)
	loadCaddy(t, cf)
	return g
}

// post sends a JSON body to the gateway (path after the host) and keeps
// the answer for noSecrets.
func (g *qawGW) post(t *testing.T, path, body string, header ...string) (int, map[string]any, []byte) {
	t.Helper()
	return g.do(t, http.MethodPost, path, "application/json", body, header...)
}

func (g *qawGW) do(t *testing.T, method, path, contentType, body string, header ...string) (int, map[string]any, []byte) {
	t.Helper()
	status, m, raw := qaDo(t, method, g.base+path, contentType, body, header...)
	g.mu.Lock()
	g.answers = append(g.answers, raw)
	g.mu.Unlock()
	return status, m, raw
}

// hook calls one of the emulator's /_emulator/ hooks.
func (g *qawGW) hook(t *testing.T, method, path string) (int, map[string]any, []byte) {
	t.Helper()
	return qaDo(t, method, "http://"+g.emu+path, "", "")
}

// secrets is every AppSecret, every access token and every session key
// the emulator handed out so far.
func (g *qawGW) secrets() []string {
	out := []string{qawSecret, qawSecret2, qawOASec}
	for _, p := range []*qaProxy{g.proxy, g.classic} {
		for _, path := range []string{"/cgi-bin/stable_token", "/cgi-bin/token"} {
			for _, e := range p.all(path) {
				if v := qaJSONField(e.RespBody, "access_token"); v != "" {
					out = append(out, v)
				}
			}
		}
		for _, e := range p.all("/sns/jscode2session") {
			if v := qaJSONField(e.RespBody, "session_key"); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// noSecrets: no answer the gateway gave holds a secret, a token or a
// session key.
func (g *qawGW) noSecrets(t *testing.T) {
	t.Helper()
	s := g.secrets()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, raw := range g.answers {
		qaNoneOf(t, "answer", raw, s...)
	}
}

// qawAnswer is a recorder override answering status and body to every
// provider request for one of paths (the rest reach the emulator).
func qawAnswer(status int, body string, paths ...string) func(e *qaExchange) (int, []byte, bool) {
	return func(e *qaExchange) (int, []byte, bool) {
		if slices.Contains(paths, e.Path) {
			return status, []byte(body), true
		}
		return 0, nil, false
	}
}

// tokenOf is the last access token the emulator handed out for appid
// through p.
func qawTokenOf(p *qaProxy, appid string) string {
	tok := ""
	for _, path := range []string{"/cgi-bin/stable_token", "/cgi-bin/token"} {
		for _, e := range p.all(path) {
			if e.Form.Get("appid") == appid || qaJSONField(e.ReqBody, "appid") == appid {
				if v := qaJSONField(e.RespBody, "access_token"); v != "" {
					tok = v
				}
			}
		}
	}
	return tok
}

// tokenFetches is how many token requests for appid reached p.
func qawTokenFetches(p *qaProxy, appid string) int {
	n := 0
	for _, path := range []string{"/cgi-bin/stable_token", "/cgi-bin/token"} {
		for _, e := range p.all(path) {
			if e.Form.Get("appid") == appid || qaJSONField(e.ReqBody, "appid") == appid {
				n++
			}
		}
	}
	return n
}

// login calls code2Session through route and returns the openid.
func (g *qawGW) login(t *testing.T, route, code string, header ...string) string {
	t.Helper()
	status, m, raw := g.post(t, route+"auth/code2Session", `{"code":"`+code+`"}`, header...)
	if !qaWant(t, "code2Session "+code, status, m, raw, 200, 0) || qaStr(m, "openid") == "" {
		t.Fatalf("login %s: %s", code, raw)
	}
	return qaStr(m, "openid")
}

// qawBody decodes a provider request's JSON body (numbers as json.Number).
func qawBody(t *testing.T, e qaExchange) map[string]any {
	t.Helper()
	m, err := jsonNumbers(e.ReqBody)
	if err != nil {
		t.Errorf("%s: body is not a JSON object: %s", e.Path, e.ReqBody)
	}
	return m
}

func qawDecode(raw []byte) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// qawCamel is a provider answer as the contract says the caller gets it:
// snake_case keys camelCase, recursively, errcode/errmsg as errCode/errMsg,
// appid as appId.
func qawCamel(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			out[qawCamelKey(k)] = qawCamel(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = qawCamel(x[i])
		}
		return out
	default:
		return v
	}
}

func qawCamelKey(k string) string {
	switch k {
	case "errcode":
		return "errCode"
	case "errmsg":
		return "errMsg"
	case "appid":
		return "appId"
	}
	parts := strings.Split(k, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// qawSubset reports where want is not contained in got ("" when it is).
func qawSubset(want, got any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return at + ": not an object"
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				return at + "." + k + ": missing"
			}
			if d := qawSubset(v, gv, at+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return at + ": not the same list"
		}
		for i := range w {
			if d := qawSubset(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
		return ""
	}
}

// qawSnakeKeys is every key with an underscore (and errcode/errmsg) in v.
func qawSnakeKeys(v any, at string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.Contains(k, "_") || k == "errcode" || k == "errmsg" {
				out = append(out, at+"."+k)
			}
			out = append(out, qawSnakeKeys(val, at+"."+k)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, qawSnakeKeys(val, at+"[]")...)
		}
	}
	return out
}

// TestQawCallingShapes: the API name is the path after the route prefix,
// with slashes or dots (the same provider call); auth.getOpenid is
// code2Session; the code comes from code, jsCode or js_code; GET with query
// parameters is the same call; the provider call is GET /sns/jscode2session
// with the appid, the secret and js_code; the answer is HTTP 200 with
// errCode 0, errMsg "ok", openid and unionid, spelled as WeChat does.
func TestQawCallingShapes(t *testing.T) {
	g := qawStart(t)
	cases := []struct{ name, method, path, body, code string }{
		{"slashes", "POST", "/wx/auth/code2Session", `{"code":"shape.1"}`, "shape.1"},
		{"dots", "POST", "/wx/auth.code2Session", `{"code":"shape.2"}`, "shape.2"},
		{"alias getOpenid", "POST", "/wx/auth/getOpenid", `{"code":"shape.3"}`, "shape.3"},
		{"alias with a dot", "POST", "/wx/auth.getOpenid", `{"code":"shape.4"}`, "shape.4"},
		{"jsCode", "POST", "/wx/auth/code2Session", `{"jsCode":"shape.5"}`, "shape.5"},
		{"js_code", "POST", "/wx/auth/code2Session", `{"js_code":"shape.6"}`, "shape.6"},
		{"GET query", "GET", "/wx/auth/code2Session?code=shape.7", "", "shape.7"},
		{"GET query dots", "GET", "/wx/auth.code2Session?jsCode=shape.8", "", "shape.8"},
	}
	openid := ""
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := "application/json"
			if c.method == "GET" {
				ct = ""
			}
			status, m, raw := g.do(t, c.method, c.path, ct, c.body)
			if !qaWant(t, c.path, status, m, raw, 200, 0) {
				return
			}
			if qaStr(m, "errMsg") != "ok" || qaStr(m, "openid") == "" || qaStr(m, "unionid") == "" {
				t.Errorf("answer %s, want errMsg ok, openid and unionid", raw)
			}
			for _, k := range []string{"openId", "unionId", "sessionKey", "session_key", "errcode", "errmsg"} {
				if _, ok := m[k]; ok {
					t.Errorf("answer has %s: %s", k, raw)
				}
			}
			// The same user (the part of the code before its first dot).
			if openid == "" {
				openid = qaStr(m, "openid")
			} else if qaStr(m, "openid") != openid {
				t.Errorf("openid %s, want the same user's %s", m["openid"], openid)
			}
			e := g.proxy.last(t, "/sns/jscode2session")
			if e.Method != http.MethodGet || e.Query.Get("js_code") != c.code || e.Query.Get("appid") != qawApp || e.Query.Get("secret") != qawSecret {
				t.Errorf("provider call %s %s?%s, want GET with appid=%s, its secret and js_code=%s", e.Method, e.Path, e.Query.Encode(), qawApp, c.code)
			}
		})
	}
	if n := g.proxy.count("/sns/jscode2session"); n != len(cases) {
		t.Errorf("%d provider calls for %d code2Session calls", n, len(cases))
	}

	// GET with query parameters for an API that needs a token: the same
	// provider call as the POST.
	status, m, raw := g.do(t, http.MethodGet, "/wx/urllink/generate?path=pages/index/index&query=a%3D1", "", "")
	if qaWant(t, "GET urllink.generate", status, m, raw, 200, 0) {
		b := qawBody(t, g.proxy.last(t, "/wxa/generate_urllink"))
		if b["path"] != "pages/index/index" || b["query"] != "a=1" {
			t.Errorf("GET urllink.generate sent %v, want path and query", b)
		}
		if qaStr(m, "urlLink") == "" {
			t.Errorf("urllink.generate answer %s, want urlLink", raw)
		}
	}
	status, m, raw = g.do(t, http.MethodGet, "/wx/analysis.getDailyRetain?beginDate=20240101&endDate=20240101", "", "")
	if qaWant(t, "GET analysis.getDailyRetain", status, m, raw, 200, 0) {
		e := g.proxy.last(t, "/datacube/getweanalysisappiddailyretaininfo")
		b := qawBody(t, e)
		if e.Method != http.MethodPost || b["begin_date"] != "20240101" || b["end_date"] != "20240101" {
			t.Errorf("GET analysis.getDailyRetain sent %s %s, want POST begin_date/end_date", e.Method, e.ReqBody)
		}
	}
	g.noSecrets(t)
}

// TestQawCaseConversionOut: camelCase parameters go out snake_case,
// recursively; snake_case parameters are accepted as vk-unicloud sends
// them; WeChat's own spellings are kept (toUser → touser, msgtype,
// pagepath, appId → appid) and template data is passed verbatim.
func TestQawCaseConversionOut(t *testing.T) {
	g := qawStart(t)
	user := g.login(t, "/wx/", "case.1")
	checks := []struct {
		name, api, body, path string
		want                  map[string]any
	}{
		{"nested camelCase", "urlscheme/generate",
			`{"jumpWxa":{"path":"pages/index/index","query":"a=1","envVersion":"trial"},"isExpire":true,"expireType":1,"expireInterval":2}`,
			"/wxa/generatescheme",
			map[string]any{"jump_wxa": map[string]any{"path": "pages/index/index", "query": "a=1", "env_version": "trial"},
				"is_expire": true, "expire_type": json.Number("1"), "expire_interval": json.Number("2")}},
		{"snake_case accepted", "urlscheme/generate",
			`{"jump_wxa":{"path":"pages/a/a","env_version":"release"},"is_expire":false}`,
			"/wxa/generatescheme",
			map[string]any{"jump_wxa": map[string]any{"path": "pages/a/a", "env_version": "release"}, "is_expire": false}},
		{"snake_case analysis", "analysis/getMonthlyRetain",
			`{"begin_date":"20240101","end_date":"20240131"}`,
			"/datacube/getweanalysisappidmonthlyretaininfo",
			map[string]any{"begin_date": "20240101", "end_date": "20240131"}},
		{"wxacode parameters", "wxacode/getUnlimited",
			`{"scene":"a=1","page":"pages/index/index","checkPath":false,"envVersion":"develop","width":280,"autoColor":false,"lineColor":{"r":1,"g":2,"b":3},"isHyaline":true}`,
			"/wxa/getwxacodeunlimit",
			map[string]any{"scene": "a=1", "page": "pages/index/index", "check_path": false, "env_version": "develop", "width": json.Number("280"),
				"auto_color": false, "line_color": map[string]any{"r": json.Number("1"), "g": json.Number("2"), "b": json.Number("3")}, "is_hyaline": true}},
		{"subscribe data verbatim", "subscribeMessage/send",
			`{"toUser":"` + user + `","templateId":"tpl-1","page":"pages/index/index","miniprogramState":"trial","lang":"zh_CN","data":{"thing1":{"value":"a"},"characterString2":{"value":"b"},"phrase_3":{"value":"c"}}}`,
			"/cgi-bin/message/subscribe/send",
			map[string]any{"touser": user, "template_id": "tpl-1", "page": "pages/index/index", "miniprogram_state": "trial", "lang": "zh_CN",
				"data": map[string]any{"thing1": map[string]any{"value": "a"}, "characterString2": map[string]any{"value": "b"}, "phrase_3": map[string]any{"value": "c"}}}},
		{"customer service message", "customerServiceMessage/send",
			`{"toUser":"` + user + `","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","pagepath":"pages/index/index","thumbMediaId":"m1"}}`,
			"/cgi-bin/message/custom/send",
			map[string]any{"touser": user, "msgtype": "miniprogrampage",
				"miniprogrampage": map[string]any{"title": "t", "pagepath": "pages/index/index", "thumb_media_id": "m1"}}},
		{"typing", "customerServiceMessage/setTyping",
			`{"toUser":"` + user + `","command":"Typing"}`,
			"/cgi-bin/message/custom/typing",
			map[string]any{"touser": user, "command": "Typing"}},
		{"uniform message", "uniformMessage/send",
			`{"touser":"` + user + `","mpTemplateMsg":{"appid":"` + qawOA + `","templateId":"tpl-2","url":"https://example.com/","miniprogram":{"appid":"` + qawApp + `","pagepath":"pages/index/index"},"data":{"first":{"value":"v","color":"#173177"}}}}`,
			"/cgi-bin/message/wxopen/template/uniform_send",
			map[string]any{"touser": user, "mp_template_msg": map[string]any{"appid": qawOA, "template_id": "tpl-2", "url": "https://example.com/",
				"miniprogram": map[string]any{"appid": qawApp, "pagepath": "pages/index/index"},
				"data":        map[string]any{"first": map[string]any{"value": "v", "color": "#173177"}}}}},
		{"uniform message template appid defaults to h5_app_id", "uniformMessage/send",
			`{"touser":"` + user + `","mpTemplateMsg":{"templateId":"tpl-3","url":"https://example.com/","miniprogram":{"appid":"` + qawApp + `","pagepath":"p"},"data":{"k":{"value":"v"}}}}`,
			"/cgi-bin/message/wxopen/template/uniform_send",
			map[string]any{"mp_template_msg": map[string]any{"appid": qawOA, "template_id": "tpl-3", "data": map[string]any{"k": map[string]any{"value": "v"}}}}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			before := g.proxy.count(c.path)
			status, m, raw := g.post(t, "/wx/"+c.api, c.body)
			if status != 200 {
				t.Errorf("%s: %d %s", c.api, status, raw)
				return
			}
			if _, ok := m["errCode"]; m != nil && !ok {
				t.Errorf("%s: JSON answer without errCode: %s", c.api, raw)
			}
			if g.proxy.count(c.path) != before+1 {
				t.Fatalf("%s: no call to %s", c.api, c.path)
			}
			e := g.proxy.last(t, c.path)
			if e.Method != http.MethodPost {
				t.Errorf("%s: provider call %s, want POST", c.api, e.Method)
			}
			sent := qawBody(t, e)
			if d := qawSubset(c.want, any(sent), "body"); d != "" {
				t.Errorf("%s sent %s: %s", c.api, e.ReqBody, d)
			}
			if data, ok := c.want["data"]; ok && !reflect.DeepEqual(data, sent["data"]) {
				t.Errorf("%s: data %v, want it verbatim %v", c.api, sent["data"], data)
			}
			for _, k := range []string{"toUser", "templateId", "jumpWxa", "checkPath", "accessToken", "access_token", "mpTemplateMsg"} {
				if _, ok := sent[k]; ok {
					t.Errorf("%s: provider body has %s: %s", c.api, k, e.ReqBody)
				}
			}
		})
	}
	g.noSecrets(t)
}

// TestQawCaseConversionBack: a provider answer comes back with its keys
// camelCase, recursively (ref_date → refDate, errcode → errCode, …), its
// values unchanged, and no snake_case key left.
func TestQawCaseConversionBack(t *testing.T) {
	g := qawStart(t)
	calls := []struct{ api, body, path string }{
		{"analysis/getDailyRetain", `{"beginDate":"20240101","endDate":"20240101"}`, "/datacube/getweanalysisappiddailyretaininfo"},
		{"analysis/getUserPortrait", `{"beginDate":"20240101","endDate":"20240107"}`, "/datacube/getweanalysisappiduserportrait"},
		{"analysis/getVisitPage", `{"beginDate":"20240101","endDate":"20240101"}`, "/datacube/getweanalysisappidvisitpage"},
		{"analysis/getDailySummary", `{"beginDate":"20240101","endDate":"20240101"}`, "/datacube/getweanalysisappiddailysummarytrend"},
		{"livebroadcast/getLiveInfo", `{"pageIndex":1,"pageSize":3}`, "/wxa/business/getliveinfo"},
		{"phoneNumber/getPhoneNumber", `{"code":"qaw-phone-1"}`, "/wxa/business/getuserphonenumber"},
		{"security/msgSecCheck", `{"content":"hello","version":2,"openid":"oQaw","scene":1}`, "/wxa/msg_sec_check"},
		{"urllink/generate", `{"path":"pages/index/index"}`, "/wxa/generate_urllink"},
		{"urlscheme/generate", `{"jumpWxa":{"path":"pages/index/index"}}`, "/wxa/generatescheme"},
	}
	for _, c := range calls {
		t.Run(c.api, func(t *testing.T) {
			status, m, raw := g.post(t, "/wx/"+c.api, c.body)
			if !qaWant(t, c.api, status, m, raw, 200, 0) {
				return
			}
			if qaStr(m, "errMsg") != "ok" {
				t.Errorf("%s: errMsg %q, want ok", c.api, m["errMsg"])
			}
			if _, ok := m["errCode"].(json.Number); !ok {
				t.Errorf("%s: errCode %#v is not a number", c.api, m["errCode"])
			}
			e := g.proxy.last(t, c.path)
			want := qawCamel(qawDecode(e.RespBody))
			got := qawDecode(raw)
			if d := qawSubset(want, got, "answer"); d != "" {
				t.Errorf("%s: provider answered %.600s; the gateway %.600s: %s", c.api, e.RespBody, raw, d)
			}
			if ks := qawSnakeKeys(got, "answer"); len(ks) > 0 {
				t.Errorf("%s: snake_case keys left in the answer: %v", c.api, ks)
			}
		})
	}
	// The examples the contract names.
	_, m, raw := g.post(t, "/wx/analysis/getDailyRetain", `{"beginDate":"20240102","endDate":"20240102"}`)
	if qaStr(m, "refDate") != "20240102" {
		t.Errorf("getDailyRetain answer %s, want refDate 20240102", raw)
	}
	// livebroadcast.getLiveInfo: pageIndex/pageSize become start/limit.
	b := qawBody(t, g.proxy.last(t, "/wxa/business/getliveinfo"))
	if b["limit"] != json.Number("3") || b["start"] != json.Number("0") {
		t.Errorf("getLiveInfo pageIndex 1 pageSize 3 sent %v, want start 0 limit 3", b)
	}
	g.noSecrets(t)
}

// TestQawCatalogProviderCalls: every API of the catalog reaches the
// provider path the contract names, with the gateway's access token
// (never the caller's business), and is answered HTTP 200.
func TestQawCatalogProviderCalls(t *testing.T) {
	g := qawStart(t)
	user := g.login(t, "/wx/", "catalog.1")
	img := qawPNG
	b64 := `{"contentType":"image/png","value":"` + qawB64(img) + `"}`
	cases := []struct{ api, body, method, path string }{
		{"auth.getPaidUnionId", `{"openid":"` + user + `","transactionId":"4200000001"}`, "GET", "/wxa/getpaidunionid"},
		{"analysis.getDailyRetain", `{"beginDate":"20240101","endDate":"20240101"}`, "POST", "/datacube/getweanalysisappiddailyretaininfo"},
		{"analysis.getMonthlyRetain", `{"beginDate":"20240101","endDate":"20240131"}`, "POST", "/datacube/getweanalysisappidmonthlyretaininfo"},
		{"analysis.getWeeklyRetain", `{"beginDate":"20240101","endDate":"20240107"}`, "POST", "/datacube/getweanalysisappidweeklyretaininfo"},
		{"analysis.getDailySummary", `{"beginDate":"20240101","endDate":"20240101"}`, "POST", "/datacube/getweanalysisappiddailysummarytrend"},
		{"analysis.getDailyVisitTrend", `{"beginDate":"20240101","endDate":"20240101"}`, "POST", "/datacube/getweanalysisappiddailyvisittrend"},
		{"analysis.getMonthlyVisitTrend", `{"beginDate":"20240101","endDate":"20240131"}`, "POST", "/datacube/getweanalysisappidmonthlyvisittrend"},
		{"analysis.getWeeklyVisitTrend", `{"beginDate":"20240101","endDate":"20240107"}`, "POST", "/datacube/getweanalysisappidweeklyvisittrend"},
		{"analysis.getUserPortrait", `{"beginDate":"20240101","endDate":"20240107"}`, "POST", "/datacube/getweanalysisappiduserportrait"},
		{"analysis.getVisitDistribution", `{"beginDate":"20240101","endDate":"20240101"}`, "POST", "/datacube/getweanalysisappidvisitdistribution"},
		{"analysis.getVisitPage", `{"beginDate":"20240101","endDate":"20240101"}`, "POST", "/datacube/getweanalysisappidvisitpage"},
		{"customerServiceMessage.send", `{"toUser":"` + user + `","msgtype":"text","text":{"content":"hi"}}`, "POST", "/cgi-bin/message/custom/send"},
		{"customerServiceMessage.setTyping", `{"toUser":"` + user + `","command":"Typing"}`, "POST", "/cgi-bin/message/custom/typing"},
		{"customerServiceMessage.uploadTempMedia", `{"type":"image","media":` + b64 + `}`, "POST", "/cgi-bin/media/upload"},
		{"customerServiceMessage.getTempMedia", `{"mediaId":"qaw-no-such-media"}`, "", "/cgi-bin/media/get"},
		{"wxacode.createQRCode", `{"path":"pages/index/index","width":430}`, "POST", "/cgi-bin/wxaapp/createwxaqrcode"},
		{"wxacode.get", `{"path":"pages/index/index"}`, "POST", "/wxa/getwxacode"},
		{"wxacode.getUnlimited", `{"scene":"a=1","page":"pages/index/index"}`, "POST", "/wxa/getwxacodeunlimit"},
		{"img.aiCrop", `{"img":` + b64 + `}`, "POST", "/cv/img/aicrop"},
		{"img.scanQRCode", `{"img":` + b64 + `}`, "POST", "/cv/img/qrcode"},
		{"img.superresolution", `{"img":` + b64 + `}`, "POST", "/cv/img/superresolution"},
		{"phoneNumber.getPhoneNumber", `{"code":"qaw-code"}`, "POST", "/wxa/business/getuserphonenumber"},
		{"urlscheme.generate", `{"jumpWxa":{"path":"pages/index/index"}}`, "POST", "/wxa/generatescheme"},
		{"urllink.generate", `{"path":"pages/index/index"}`, "POST", "/wxa/generate_urllink"},
		{"security.msgSecCheck", `{"content":"hello"}`, "POST", "/wxa/msg_sec_check"},
		{"security.imgSecCheck", `{"media":` + b64 + `}`, "POST", "/wxa/img_sec_check"},
		{"subscribeMessage.send", `{"toUser":"` + user + `","templateId":"t","data":{"thing1":{"value":"x"}}}`, "POST", "/cgi-bin/message/subscribe/send"},
		{"uniformMessage.send", `{"touser":"` + user + `","mpTemplateMsg":{"templateId":"t","url":"https://example.com/","miniprogram":{"appid":"` + qawApp + `","pagepath":"p"},"data":{"k":{"value":"v"}}}}`, "POST", "/cgi-bin/message/wxopen/template/uniform_send"},
		{"livebroadcast.getLiveInfo", `{"pageIndex":1,"pageSize":10}`, "POST", "/wxa/business/getliveinfo"},
	}
	tok := ""
	for _, c := range cases {
		for _, sep := range []string{"/", "."} {
			name := strings.Replace(c.api, ".", sep, -1)
			before := g.proxy.count(c.path)
			status, m, raw := g.post(t, "/wx/"+name, c.body)
			if status != 200 {
				t.Errorf("%s: %d %.300s", name, status, raw)
				continue
			}
			if g.proxy.count(c.path) != before+1 {
				t.Errorf("%s: %d calls to %s, want 1", name, g.proxy.count(c.path)-before, c.path)
				continue
			}
			e := g.proxy.last(t, c.path)
			if c.method != "" && e.Method != c.method {
				t.Errorf("%s: %s %s, want %s", name, e.Method, c.path, c.method)
			}
			if tok == "" {
				tok = qawTokenOf(g.proxy, qawApp)
			}
			if at := e.Query.Get("access_token"); at == "" || at != tok {
				t.Errorf("%s: provider call without the gateway's token (access_token=%q)", name, at)
			}
			if m != nil {
				if _, ok := m["errCode"]; !ok {
					t.Errorf("%s: JSON answer without errCode: %.300s", name, raw)
				}
			}
		}
	}
	// h5.templateMessage.send goes with the official account's token.
	status, m, raw := g.post(t, "/wx/h5/templateMessage/send", `{"touser":"oQawFollower","templateId":"t","url":"https://example.com/","data":{"first":{"value":"v"}}}`)
	if qaWant(t, "h5.templateMessage.send", status, m, raw, 200, 0) {
		e := g.proxy.last(t, "/cgi-bin/message/template/send")
		oa := qawTokenOf(g.proxy, qawOA)
		if oa == "" || e.Query.Get("access_token") != oa || oa == tok {
			t.Errorf("h5.templateMessage.send used token %q, want the official account's %q", e.Query.Get("access_token"), oa)
		}
		if b := qawBody(t, e); b["template_id"] != "t" || b["touser"] != "oQawFollower" {
			t.Errorf("template/send body %s", e.ReqBody)
		}
	}
	status, m, raw = g.post(t, "/wx/h5.templateMessage.send", `{"touser":"oQawFollower","templateId":"t","data":{"first":{"value":"v"}}}`)
	qaWant(t, "h5.templateMessage.send with dots", status, m, raw, 200, 0)
	// One token per app, fetched once for all these calls.
	if n := qawTokenFetches(g.proxy, qawApp); n != 1 {
		t.Errorf("%d token fetches for the mini-program, want 1", n)
	}
	if n := qawTokenFetches(g.proxy, qawOA); n != 1 {
		t.Errorf("%d token fetches for the official account, want 1", n)
	}
	g.noSecrets(t)
}

// TestQawFixedAccessToken: with access_token, that token is used for every
// call and no token is ever fetched.
func TestQawFixedAccessToken(t *testing.T) {
	g := qawStart(t)
	const fixed = "qaw-fixed-token-0001"
	g.proxy.set(func(e *qaExchange) (int, []byte, bool) {
		if e.Path == "/wxa/generate_urllink" && e.Query.Get("access_token") == fixed {
			return 200, []byte(`{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/qawFixed"}`), true
		}
		return 0, nil, false
	}, nil)
	defer g.proxy.set(nil, nil)
	for i := 0; i < 2; i++ {
		status, m, raw := qaPost(t, g.base+"/wxfixed/urllink/generate", `{"path":"pages/index/index"}`)
		if qaWant(t, "urllink.generate with a fixed token", status, m, raw, 200, 0) && qaStr(m, "urlLink") != "https://wxaurl.cn/qawFixed" {
			t.Errorf("answer %s", raw)
		}
		qaNoneOf(t, "fixed-token answer", raw, fixed, qawSecret)
	}
	for _, e := range g.proxy.all("/wxa/generate_urllink") {
		if e.Query.Get("access_token") != fixed {
			t.Errorf("a call with token %q, want the fixed one", e.Query.Get("access_token"))
		}
	}
	if n := g.proxy.count("/cgi-bin/stable_token") + g.proxy.count("/cgi-bin/token"); n != 0 {
		t.Errorf("%d token fetches with a fixed access_token", n)
	}
}
