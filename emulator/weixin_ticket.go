package emulator

import (
	"net/http"
	"sync"
	"time"
)

// wxTickets are the official accounts' JS-SDK tickets
// (/cgi-bin/ticket/getticket). Its zero value is ready.
type wxTickets struct {
	mu      sync.Mutex
	current map[ticketSlot]*wxTicket
}

// ticketSlot is one ticket type of one official account.
type ticketSlot struct {
	appid string
	typ   string // jsapi, wx_card
}

type wxTicket struct {
	value   string
	expires time.Time
}

// getTicket is GET /cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card,
// with an official account's token (a revoked or replaced token: 40001,
// an expired one: 42001, a mini-program's: 48001). As on WeChat, the ticket
// stays the same for its whole life (expires_in: what is left of it) and a
// new one is made once it has expired.
func (x *weixin) getTicket(c *wxCall) {
	typ := c.r.URL.Query().Get("type")
	if typ != "jsapi" && typ != "wx_card" {
		c.fail(40097, "invalid args")
		return
	}
	now := x.s.now()
	t := &x.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == nil {
		t.current = map[ticketSlot]*wxTicket{}
	}
	slot := ticketSlot{c.appid, typ}
	cur, ok := t.current[slot]
	if !ok || !now.Before(cur.expires) {
		ttl := time.Duration(x.s.cfg.TokenTTL)
		cur = &wxTicket{value: newTicket(), expires: now.Add(ttl)}
		t.current[slot] = cur
	}
	c.ok(map[string]any{"ticket": cur.value, "expires_in": int64(cur.expires.Sub(now) / time.Second)})
}

// newTicket looks like WeChat's: 86 URL-safe characters.
func newTicket() string { return randomB64URL(64) }

// JSAPITicket is the official account's current jsapi_ticket, if it has
// been issued and has not expired: what a test verifies a wx.config
// signature with.
func (s *Server) JSAPITicket(appid string) (string, bool) {
	x := s.weixin()
	now := s.now()
	x.tickets.mu.Lock()
	defer x.tickets.mu.Unlock()
	cur, ok := x.tickets.current[ticketSlot{appid, "jsapi"}]
	if !ok || !now.Before(cur.expires) {
		return "", false
	}
	return cur.value, true
}

// ticketHook is GET /_emulator/weixin/jsapi_ticket?appid=: the official
// account's current jsapi_ticket, to check a wx.config signature with (404
// with 40013 for an appid that is not an official account, 404 with 40001
// when none has been issued or it expired).
func (x *weixin) ticketHook(w http.ResponseWriter, r *http.Request) {
	appid := r.URL.Query().Get("appid")
	if !x.isOfficialAccount(appid) {
		writeJSON(w, http.StatusNotFound, errBody(40013, "invalid appid"))
		return
	}
	ticket, ok := x.s.JSAPITicket(appid)
	if !ok {
		writeJSON(w, http.StatusNotFound, errBody(40001, "no jsapi_ticket issued"))
		return
	}
	writeJSON(w, http.StatusOK, okBody(map[string]any{"ticket": ticket}))
}
