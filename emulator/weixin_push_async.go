package emulator

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// The check results WeChat pushes by itself: security.mediaCheckAsync
// answers a trace_id at once and pushes the result (the wxa_media_check
// event) to the app's message server later. security.msgSecCheck (v1 and
// v2) and security.imgSecCheck answer their result synchronously, and
// WeChat pushes nothing after them; neither does the emulator.

const (
	// maxAsyncPushes bounds the results GET /_emulator/weixin/pushes keeps.
	maxAsyncPushes = 1000
	// asyncPushTimeout bounds one push the emulator sends by itself.
	asyncPushTimeout = 15 * time.Second
	// maxPushWait bounds how long GET /_emulator/weixin/pushes waits.
	maxPushWait = 30 * time.Second
)

// asyncPush is a push the emulator sends by itself; done is closed when
// res is set.
type asyncPush struct {
	done chan struct{}
	res  PushResult
}

// OnWeixinPush calls f with the result of every push the emulator sends by
// itself (after mediaCheckAsync): tests wait on it instead of sleeping.
func (s *Server) OnWeixinPush(f func(PushResult)) {
	p := s.pushes()
	p.mu.Lock()
	p.onPush = append(p.onPush, f)
	p.mu.Unlock()
}

// WaitWeixinPushes returns when every push the emulator has started by
// itself has been answered (or has failed).
func (s *Server) WaitWeixinPushes() { s.pushes().pending.Wait() }

// pushLater sends msg to appid's push target in the background, as WeChat
// sends a check result after answering the check. It is registered under
// trace before pushLater returns, so a caller that has the check's answer
// can always wait for its push.
func (p *pushes) pushLater(appid, trace string, msg map[string]any) {
	a := &asyncPush{done: make(chan struct{})}
	p.mu.Lock()
	if p.async == nil {
		p.async = map[string]*asyncPush{}
	}
	p.async[trace] = a
	p.asyncOrder = append(p.asyncOrder, trace)
	if len(p.asyncOrder) > maxAsyncPushes {
		delete(p.async, p.asyncOrder[0])
		p.asyncOrder = p.asyncOrder[1:]
	}
	p.mu.Unlock()
	p.pending.Add(1)
	go func() {
		defer p.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), asyncPushTimeout)
		defer cancel()
		res, err := p.s.SendWeixinPush(ctx, appid, msg)
		if err != nil {
			res = PushResult{ErrCode: -1, ErrMsg: err.Error(), AppID: appid}
		}
		res.TraceID = trace
		a.res = res
		close(a.done)
		p.mu.Lock()
		fs := append([]func(PushResult){}, p.onPush...)
		p.mu.Unlock()
		for _, f := range fs {
			f(res)
		}
	}()
}

// pushesHook is GET /_emulator/weixin/pushes?trace_id=…: it waits until the
// push the emulator sends by itself with that trace_id has been answered
// (at most 30 s), then answers what the target answered.
func (p *pushes) pushesHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(43001, "require GET method"))
		return
	}
	trace := r.URL.Query().Get("trace_id")
	p.mu.Lock()
	a := p.async[trace]
	p.mu.Unlock()
	if a == nil {
		writeJSON(w, http.StatusNotFound, errBody(40097, "no push for trace_id "+trace+" (pushes follow security.mediaCheckAsync to an app with a weixin_message_push)"))
		return
	}
	timer := time.NewTimer(maxPushWait)
	defer timer.Stop()
	select {
	case <-a.done:
	case <-timer.C:
		writeJSON(w, http.StatusGatewayTimeout, errBody(-1, "the push for trace_id "+trace+" is still being sent"))
		return
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AppID string `json:"appid"`
		PushResult
	}{a.res.AppID, a.res})
}

// mediaCheckAsync is POST /wxa/media_check_async: it answers a trace_id,
// then sends the app's push target the wxa_media_check result carrying it
// (risky when media_url contains "risky"), in the v2 shape for version 2,
// else in the v1 shape (isrisky, extra_info_json, status_code).
func (x *weixin) mediaCheckAsync(c *wxCall) {
	mediaURL := c.str("media_url")
	if mediaURL == "" || (c.str("media_type") != "1" && c.str("media_type") != "2") {
		c.fail(40097, "invalid args")
		return
	}
	v2 := c.str("version") == "2"
	if v2 && c.str("openid") == "" {
		c.fail(40003, "invalid openid")
		return
	}
	trace, appid := rid(), c.appid
	risky := strings.Contains(mediaURL, "risky")
	var msg map[string]any
	if v2 {
		suggest, label := "pass", 100
		if risky {
			suggest, label = "risky", 20002
		}
		msg = map[string]any{
			"MsgType": "event", "Event": "wxa_media_check", "appid": appid, "trace_id": trace, "version": 2,
			"detail":  []any{map[string]any{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}},
			"errcode": 0, "errmsg": "ok",
			"result":       map[string]any{"suggest": suggest, "label": label},
			"FromUserName": c.str("openid"),
		}
	} else {
		isRisky := 0
		if risky {
			isRisky = 1
		}
		msg = map[string]any{
			"MsgType": "event", "Event": "wxa_media_check", "appid": appid, "trace_id": trace,
			"isrisky": isRisky, "extra_info_json": "", "status_code": 0,
		}
	}
	if _, ok := x.s.pushTarget(appid); ok {
		x.s.pushes().pushLater(appid, trace, msg)
	}
	c.ok(map[string]any{"trace_id": trace})
}
