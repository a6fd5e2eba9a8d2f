package unicloud

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// h5.jssdk.getConfig through Caddy, against the emulator's getticket: the
// jsapi_ticket is held like the access token.

const getTicketPath = "/cgi-bin/ticket/getticket"

// wantJSSDKConfig checks a getConfig answer for page: the official
// account's appid, the url without its fragment, and a signature made with
// the ticket the emulator issued; neither the ticket nor any token in it.
func wantJSSDKConfig(t *testing.T, emu *emulator.Server, a answer, signed string) {
	t.Helper()
	a.expect(t, 200, 0)
	ticket, ok := emu.JSAPITicket(testH5AppID)
	if !ok {
		t.Fatal("the emulator issued no jsapi_ticket")
	}
	if bytes.Contains(a.raw, []byte(ticket)) {
		t.Fatalf("the answer holds the ticket: %s", a.raw)
	}
	ts, _ := a.obj["timestamp"].(float64)
	if a.str("appId") != testH5AppID || a.str("url") != signed || len(a.str("nonceStr")) < 16 || ts <= 0 {
		t.Fatalf("getConfig for %s: %s", signed, a.raw)
	}
	if want := weixin.JSSDKSignature(ticket, a.str("nonceStr"), int64(ts), signed); a.str("signature") != want {
		t.Fatalf("signature %s, want %s (the emulator's ticket over %s)", a.str("signature"), want, signed)
	}
}

func getConfig(g *gateway, page string) answer {
	g.t.Helper()
	return g.post("/wx/h5/jssdk/getConfig", map[string]any{"url": page})
}

// Two calls, one getticket; the signature verifies with the emulator's
// ticket, which appears in no answer and no log line.
func TestJSSDKGetConfigOneTicket(t *testing.T) {
	g := startGateway(t, "")
	before := scrapeMetrics(t, g.base+"/metrics")
	wantJSSDKConfig(t, g.emu, getConfig(g, "https://h5.example.com/a?x=1#/pages/a"), "https://h5.example.com/a?x=1")
	wantJSSDKConfig(t, g.emu, getConfig(g, "http://h5.example.com/b"), "http://h5.example.com/b")
	if n := g.emu.Stats().Calls[getTicketPath]; n != 1 {
		t.Fatalf("%d getticket calls, want 1", n)
	}
	// The token fetches metric tells the ticket from the official account's access token.
	after := scrapeMetrics(t, g.base+"/metrics")
	for name, delta := range map[string]float64{
		`caddy_unicloud_token_fetches_total{kind="jsapi_ticket",provider="weixin",result="ok"}`: 1,
		`caddy_unicloud_token_fetches_total{kind="access_token",provider="weixin",result="ok"}`: 1,
	} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s went up by %v, want %v", name, got, delta)
		}
	}
	getConfig(g, "/relative").expect(t, 400, "UNICLOUD_BAD_REQUEST")
	ticket, _ := g.emu.JSAPITicket(testH5AppID)
	logs, _ := os.ReadFile(g.logFile)
	if len(logs) == 0 || bytes.Contains(logs, []byte(ticket)) {
		t.Fatalf("the log (%d bytes) holds the ticket, or nothing was logged", len(logs))
	}
}

// Concurrent misses make one getticket, and every caller gets a valid
// signature.
func TestJSSDKConcurrentMisses(t *testing.T) {
	g := startGateway(t, "")
	var wg sync.WaitGroup
	answers := make([]answer, 16)
	for i := range answers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			answers[i] = getConfig(g, fmt.Sprintf("https://h5.example.com/p%d", i))
		}(i)
	}
	wg.Wait()
	for i, a := range answers {
		wantJSSDKConfig(t, g.emu, a, fmt.Sprintf("https://h5.example.com/p%d", i))
	}
	if n := g.emu.Stats().Calls[getTicketPath]; n != 1 {
		t.Fatalf("%d getticket calls for 16 concurrent misses, want 1", n)
	}
}

// A revoked official-account token: getticket answers 40001, the token is
// refreshed once and getticket retried, and the caller gets its config.
func TestJSSDKRevokedToken(t *testing.T) {
	g := startGateway(t, "")
	// The gateway holds the official account's token, not yet a ticket.
	g.post("/wx/h5/templateMessage/send", map[string]any{
		"touser": "oOAUser", "templateId": "tpl", "data": map[string]any{"first": map[string]any{"value": "x"}},
	}).expect(t, 200, 0)
	if n := g.emu.Stats().TokenIssues[testH5AppID].Stable; n != 1 {
		t.Fatalf("official account token issues %d, want 1", n)
	}
	g.emu.RevokeTokens(testH5AppID)
	wantJSSDKConfig(t, g.emu, getConfig(g, "https://h5.example.com/"), "https://h5.example.com/")
	if n := g.emu.Stats().Calls[getTicketPath]; n != 2 {
		t.Fatalf("%d getticket calls, want 2 (refused, then retried with the new token)", n)
	}
	if n := g.emu.Stats().TokenIssues[testH5AppID].Stable; n != 2 {
		t.Fatalf("official account token issues %d, want 2 (one refresh)", n)
	}
	wantJSSDKConfig(t, g.emu, getConfig(g, "https://h5.example.com/again"), "https://h5.example.com/again")
	if n := g.emu.Stats().Calls[getTicketPath]; n != 2 {
		t.Fatalf("the ticket was not kept: %d getticket calls", n)
	}
}

// A config reload keeps the ticket.
func TestJSSDKReloadKeepsTicket(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_SECRET", testSecret)
	emu, _, emuURL := newEmulator(t, 0)
	dir := t.TempDir()
	addr := freeAddr(t)
	cf := func(timeout string) string {
		return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
}
`, addr, gatewayBlock(emuURL, "timeout "+timeout))
	}
	loadCaddy(t, cf("3s"))
	g := &gateway{t: t, base: "http://" + addr}
	wantJSSDKConfig(t, emu, getConfig(g, "https://h5.example.com/"), "https://h5.example.com/")
	reloadCaddy(t, cf("4s"), g.base+"/")
	wantJSSDKConfig(t, emu, getConfig(g, "https://h5.example.com/"), "https://h5.example.com/")
	if n := emu.Stats().Calls[getTicketPath]; n != 1 {
		t.Fatalf("reload fetched a new ticket: %d getticket calls", n)
	}
}

// Two Caddy instances sharing a storage share the ticket: concurrent
// getConfig on both make one getticket, and every signature verifies.
func TestJSSDKTwoInstancesShareTicket(t *testing.T) {
	emu, _, emuURL := newEmulator(t, 0)
	storage := filepath.Join(t.TempDir(), "shared-storage")
	var bases []string
	for range 2 {
		addr := freeAddr(t)
		startChildCaddy(t, globalOptions(storage, "")+fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			h5_app_id %s
			h5_secret %s
			endpoint  %s
		}
	}
}
`, addr, testH5AppID, testH5Secret, emuURL))
		bases = append(bases, "http://"+addr)
	}
	var wg sync.WaitGroup
	answers := make([]answer, 16)
	for i := range answers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			g := &gateway{t: t, base: bases[i%2]}
			answers[i] = getConfig(g, "https://h5.example.com/")
		}(i)
	}
	wg.Wait()
	for _, a := range answers {
		wantJSSDKConfig(t, emu, a, "https://h5.example.com/")
	}
	if n := emu.Stats().Calls[getTicketPath]; n != 1 {
		t.Fatalf("two instances sharing storage made %d getticket calls, want 1", n)
	}
}
