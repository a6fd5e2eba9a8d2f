package emulator

import (
	"bytes"
	"fmt"
	"strings"
)

// knownUser answers 40003 and returns false when touser is empty or, for
// a mini-program, an openid its code2Session never gave: WeChat sends only
// to its users. (The emulator issues no official-account openids, so an
// official account's touser only has to be there.)
func (x *weixin) knownUser(c *wxCall, openid string) bool {
	if openid == "" {
		c.fail(40003, "invalid openid")
		return false
	}
	if !x.isOfficialAccount(c.appid) {
		if _, ok := x.lookupSession(c.appid, openid); !ok {
			c.fail(40003, "invalid openid: this openid has not logged in to "+c.appid+" (code2Session)")
			return false
		}
	}
	return true
}

// customSend is POST /cgi-bin/message/custom/send.
func (x *weixin) customSend(c *wxCall) {
	if !x.knownUser(c, c.str("touser")) {
		return
	}
	msgtype := c.str("msgtype")
	switch msgtype {
	case "text", "image", "link", "miniprogrampage":
	default:
		c.fail(40008, "invalid message type")
		return
	}
	msg, ok := c.body[msgtype].(map[string]any)
	if !ok {
		c.fail(47001, "data format error")
		return
	}
	switch {
	case msgtype == "text" && str(msg, "content") == "":
		c.fail(44004, "empty content")
	case msgtype == "image" && !x.hasMedia(c.appid, str(msg, "media_id")):
		c.fail(40007, "invalid media_id")
	case msgtype == "miniprogrampage" && !x.hasMedia(c.appid, str(msg, "thumb_media_id")):
		c.fail(40007, "invalid media_id")
	default:
		c.ok(nil)
	}
}

// customTyping is POST /cgi-bin/message/custom/typing.
func (x *weixin) customTyping(c *wxCall) {
	if !x.knownUser(c, c.str("touser")) {
		return
	}
	if cmd := c.str("command"); cmd != "Typing" && cmd != "CancelTyping" {
		c.fail(45072, "command field invalid")
		return
	}
	c.ok(nil)
}

const riskyWord = "forbidden-word" // content containing it is risky

// msgSecCheck is POST /wxa/msg_sec_check: the v2 answer when version is 2,
// else v1 (87014 for risky content).
func (x *weixin) msgSecCheck(c *wxCall) {
	content := c.str("content")
	if content == "" {
		c.fail(47001, "data format error")
		return
	}
	risky := strings.Contains(content, riskyWord)
	if c.str("version") != "2" {
		if risky {
			c.fail(87014, "risky content")
			return
		}
		c.ok(nil)
		return
	}
	if c.str("openid") == "" {
		c.fail(40003, "invalid openid")
		return
	}
	switch c.str("scene") {
	case "1", "2", "3", "4":
	default:
		c.fail(40097, "invalid args")
		return
	}
	suggest, label := "pass", 100
	keyword := map[string]any{"strategy": "keyword", "errcode": 0}
	if risky {
		suggest, label = "risky", 20006
		keyword = map[string]any{"strategy": "keyword", "errcode": 0, "suggest": "risky", "label": label, "level": 20, "keyword": riskyWord}
	}
	c.ok(map[string]any{
		"trace_id": rid(),
		"result":   map[string]any{"suggest": suggest, "label": label},
		"detail": []map[string]any{
			{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90},
			keyword,
		},
	})
}

// imgSecCheck is POST /wxa/img_sec_check: multipart "media" under 1M;
// an image containing the bytes "forbidden-word" → 87014.
func (x *weixin) imgSecCheck(c *wxCall) {
	up, err := readUpload(c, "media", 1<<20)
	switch {
	case err == errTooLarge:
		c.fail(40006, "invalid media size")
	case err != nil || up == nil || len(up.data) == 0:
		c.fail(41005, "media data missing")
	case bytes.Contains(up.data, []byte(riskyWord)):
		c.fail(87014, "risky content")
	default:
		c.ok(nil)
	}
}

// checkTemplateData checks a template message's data: an object of
// {"value": …} objects.
func checkTemplateData(c *wxCall, data any) bool {
	m, ok := data.(map[string]any)
	if !ok || len(m) == 0 {
		c.fail(47003, "argument invalid! data is empty")
		return false
	}
	for k, v := range m {
		if f, ok := v.(map[string]any); !ok || f["value"] == nil {
			c.fail(47003, fmt.Sprintf("argument invalid! data.%s.value is empty", k))
			return false
		}
	}
	return true
}

// subscribeSend is POST /cgi-bin/message/subscribe/send.
func (x *weixin) subscribeSend(c *wxCall) {
	switch {
	case !x.knownUser(c, c.str("touser")):
		return
	case c.str("template_id") == "":
		c.fail(40037, "invalid template_id")
		return
	}
	switch c.str("miniprogram_state") {
	case "", "developer", "trial", "formal":
	default:
		c.fail(47003, "argument invalid! miniprogram_state")
		return
	}
	if checkTemplateData(c, c.body["data"]) {
		c.ok(map[string]any{"msgid": x.nextMsgID()})
	}
}

// uniformSend is POST /cgi-bin/message/wxopen/template/uniform_send: an
// official-account template message sent with the mini-program's token;
// mp_template_msg.appid must be a configured official account (40013).
func (x *weixin) uniformSend(c *wxCall) {
	if !x.knownUser(c, c.str("touser")) {
		return
	}
	mp, ok := c.body["mp_template_msg"].(map[string]any)
	switch {
	case !ok:
		c.fail(47001, "data format error")
	case !x.isOfficialAccount(str(mp, "appid")):
		c.fail(40013, "invalid appid")
	case str(mp, "template_id") == "":
		c.fail(40037, "invalid template_id")
	case checkTemplateData(c, mp["data"]):
		c.ok(nil)
	}
}

// templateSend is POST /cgi-bin/message/template/send (official accounts).
func (x *weixin) templateSend(c *wxCall) {
	switch {
	case c.str("touser") == "":
		c.fail(40003, "invalid openid")
	case c.str("template_id") == "":
		c.fail(40037, "invalid template_id")
	case checkTemplateData(c, c.body["data"]):
		c.ok(map[string]any{"msgid": x.nextMsgID()})
	}
}
