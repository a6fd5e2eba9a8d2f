package emulator

import (
	"fmt"
	"testing"
	"time"
)

// getticket hands an official account the same jsapi_ticket for its life,
// a new one after it, and refuses a revoked token (40001), a
// mini-program's (48001) and an unknown type (40097).
func TestGetTicket(t *testing.T) {
	s, clock := newTestServer(t)
	tok, _ := stableToken(t, s, testOA, testOASecret, false)
	first := getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok)
	wantErrcode(t, first, 0)
	ticket, _ := first["ticket"].(string)
	if len(ticket) < 80 || fmt.Sprint(first["expires_in"]) != "7200" {
		t.Fatalf("answer %v", first)
	}
	if got, ok := s.JSAPITicket(testOA); !ok || got != ticket {
		t.Fatalf("JSAPITicket = %q, %v", got, ok)
	}
	if m := getJSON(t, s, "/_emulator/weixin/jsapi_ticket?appid="+testOA); m["ticket"] != ticket {
		t.Fatalf("hook: %v", m)
	}
	wantErrcode(t, decode(t, do(s, "GET", "/_emulator/weixin/jsapi_ticket?appid="+testApp, nil, "")), 40013)
	clock.Add(time.Hour)
	again := getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok)
	if again["ticket"] != ticket || fmt.Sprint(again["expires_in"]) != "3600" {
		t.Fatalf("within its life: %v", again)
	}
	card := getJSON(t, s, "/cgi-bin/ticket/getticket?type=wx_card&access_token="+tok)
	if card["ticket"] == ticket || card["ticket"] == nil {
		t.Fatalf("wx_card ticket %v", card)
	}
	wantErrcode(t, getJSON(t, s, "/cgi-bin/ticket/getticket?type=other&access_token="+tok), 40097)
	mp, _ := stableToken(t, s, testApp, testSecret, false)
	wantErrcode(t, getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+mp), 48001)

	s.RevokeTokens(testOA)
	wantErrcode(t, getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok), 40001)
	tok2, _ := stableToken(t, s, testOA, testOASecret, false)
	if m := getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok2); m["ticket"] != ticket {
		t.Fatalf("a new token changed the ticket: %v", m)
	}

	clock.Add(time.Hour)
	tok3, _ := stableToken(t, s, testOA, testOASecret, false)
	m := getJSON(t, s, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok3)
	if m["ticket"] == ticket || fmt.Sprint(m["expires_in"]) != "7200" {
		t.Fatalf("after its life: %v", m)
	}
	if s.Stats().Calls["/cgi-bin/ticket/getticket"] != 8 {
		t.Fatalf("calls %v", s.Stats().Calls)
	}
}
