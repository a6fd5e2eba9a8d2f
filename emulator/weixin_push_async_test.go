package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestMediaCheckAsyncV1Push: without version 2 the result is pushed in the
// v1 shape (isrisky, extra_info_json, status_code), with the same trace_id.
func TestMediaCheckAsyncV1Push(t *testing.T) {
	url, ch := messageServer(t, func(received) string { return "success" })
	target := WeixinMessagePush{AppID: testApp, URL: url, Token: pushToken, Format: "xml"}
	s := pushServer(t, target)
	tok := classicToken(t, s, testApp, testSecret)
	for _, c := range []struct {
		url  string
		want string
	}{{"https://example.com/a.mp3", "0"}, {"https://example.com/risky.jpg", "1"}} {
		res := postJSON(t, s, "/wxa/media_check_async?access_token="+tok, map[string]any{"media_url": c.url, "media_type": 1})
		trace, _ := res["trace_id"].(string)
		if errcode(res) != 0 || trace == "" {
			t.Fatalf("%v", res)
		}
		msg := opened(t, target, <-ch)
		if msg["Event"] != "wxa_media_check" || msg["trace_id"] != trace || msg["isrisky"] != c.want || msg["status_code"] != "0" ||
			msg["appid"] != testApp || msg["version"] != nil || msg["result"] != nil {
			t.Fatalf("%s: %v", c.url, msg)
		}
	}
}

// TestPushesHookWaitsForTheResult: GET /_emulator/weixin/pushes?trace_id=
// answers once the push carrying that trace_id has been answered, with the
// target's status and body; an unknown trace_id is 404.
func TestPushesHookWaitsForTheResult(t *testing.T) {
	release := make(chan struct{})
	url, ch := messageServer(t, func(received) string { <-release; return "success" })
	var released bool
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	target := WeixinMessagePush{AppID: testApp, URL: url, Token: pushToken, EncodingAESKey: pushKey}
	s := pushServer(t, target)
	tok := classicToken(t, s, testApp, testSecret)
	res := postJSON(t, s, "/wxa/media_check_async?access_token="+tok, map[string]any{"media_url": "https://example.com/a.jpg", "media_type": 2, "version": 2, "openid": "o_user"})
	trace, _ := res["trace_id"].(string)
	got := make(chan *httptest.ResponseRecorder, 1)
	go func() { got <- do(s, http.MethodGet, "/_emulator/weixin/pushes?trace_id="+trace, nil, "") }()
	select {
	case w := <-got:
		t.Fatalf("answered before the target did: %s", w.Body)
	default:
	}
	close(release)
	released = true
	<-ch
	r := decode(t, <-got)
	if r["appid"] != testApp || r["traceId"] != trace || r["status"] != json.Number("200") || r["body"] != "success" || r["errCode"] != json.Number("0") {
		t.Fatalf("%v", r)
	}
	if w := do(s, http.MethodGet, "/_emulator/weixin/pushes?trace_id=nope", nil, ""); w.Code != http.StatusNotFound {
		t.Fatalf("unknown trace_id: %d %s", w.Code, w.Body)
	}
}

// TestSynchronousChecksPushNothing: msgSecCheck (v1 and v2) and imgSecCheck
// answer their result at once; WeChat pushes nothing after them, and
// neither does the emulator.
func TestSynchronousChecksPushNothing(t *testing.T) {
	murl, ch := messageServer(t, func(received) string { return "success" })
	s := pushServer(t, WeixinMessagePush{AppID: testApp, URL: murl, Token: pushToken})
	tok := classicToken(t, s, testApp, testSecret)
	q := "?access_token=" + url.QueryEscape(tok)
	if res := postJSON(t, s, "/wxa/msg_sec_check"+q, map[string]any{"content": "hello", "version": 2, "scene": 1, "openid": "o_user"}); errcode(res) != 0 || res["trace_id"] == nil {
		t.Fatalf("msgSecCheck v2: %v", res)
	}
	wantErrcode(t, postJSON(t, s, "/wxa/msg_sec_check"+q, map[string]any{"content": "hello"}), 0)
	body, ct := multipartBody("media", "a.png", "image/png", []byte("\x89PNG fine"))
	wantErrcode(t, decode(t, do(s, http.MethodPost, "/wxa/img_sec_check"+q, body, ct)), 0)
	s.WaitWeixinPushes()
	select {
	case rc := <-ch:
		t.Fatalf("a synchronous check pushed %s", rc.body)
	default:
	}
}
