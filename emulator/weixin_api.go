package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // image.DecodeConfig of uploaded images
	_ "image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// code2Session is GET /sns/jscode2session. Any js_code works, once (a
// second use is 40163, as on WeChat), but "invalid" (40029) and "used"
// (40163). The openid is derived from appid and the code up to its first
// "." (so "alice.1" and "alice.2" log the same user in twice), the unionid
// from that part too; the session key is random, one per openid, and
// remembered (see EncryptedPhoneData).
func (x *weixin) code2Session(c *wxCall) {
	q := c.r.URL.Query()
	appid := q.Get("appid")
	if code, msg := x.checkApp(appid, q.Get("secret")); code != 0 {
		c.fail(code, msg)
		return
	}
	if x.isOfficialAccount(appid) {
		c.fail(40013, "invalid appid")
		return
	}
	if gt := q.Get("grant_type"); gt != "" && gt != "authorization_code" {
		c.fail(40002, "invalid grant_type")
		return
	}
	switch code := q.Get("js_code"); code {
	case "":
		c.fail(41008, "missing code")
	case "invalid":
		c.fail(40029, "invalid code")
	case "used":
		c.fail(40163, "code been used")
	default:
		if !x.useCode(appid, code) {
			c.fail(40163, "code been used")
			return
		}
		user, _, _ := strings.Cut(code, ".")
		openid := userID("openid", appid, user)
		sess := x.session(appid, openid, userID("unionid", user))
		c.ok(map[string]any{"openid": openid, "session_key": sess.sessionKey, "unionid": sess.unionid})
	}
}

// codeLife is how long WeChat's login codes live; a used code is
// remembered at least this long.
const codeLife = 5 * time.Minute

// useCode marks appid's login code used; false if it was already.
func (x *weixin) useCode(appid, code string) bool {
	k := appid + "\x00" + code
	now := x.s.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, used := x.usedCodes[k]; used {
		return false
	}
	if len(x.usedCodes) >= maxUsedCodes {
		// Forget the codes past their life first (WeChat would refuse
		// them as expired anyway), then any.
		for old, at := range x.usedCodes {
			if now.Sub(at) > codeLife {
				delete(x.usedCodes, old)
			}
		}
		for old := range x.usedCodes {
			if len(x.usedCodes) < maxUsedCodes {
				break
			}
			delete(x.usedCodes, old)
		}
	}
	x.usedCodes[k] = now
	return true
}

// session returns the session of appid's user openid, starting one with a
// new random session key if there is none.
func (x *weixin) session(appid, openid, unionid string) wxSession {
	k := appid + "\x00" + openid
	x.mu.Lock()
	defer x.mu.Unlock()
	if sess, ok := x.sessions[k]; ok {
		return sess
	}
	if len(x.sessions) >= maxSessions {
		for old := range x.sessions {
			delete(x.sessions, old)
			break
		}
	}
	sess := wxSession{sessionKey: randomB64(16), unionid: unionid}
	x.sessions[k] = sess
	return sess
}

// lookupSession returns the session code2Session started for openid.
func (x *weixin) lookupSession(appid, openid string) (wxSession, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	sess, ok := x.sessions[appid+"\x00"+openid]
	return sess, ok
}

// getPaidUnionID is GET /wxa/getpaidunionid: the unionid code2Session gave
// for openid (or one derived from it), given a transaction_id or mch_id +
// out_trade_no.
func (x *weixin) getPaidUnionID(c *wxCall) {
	q := c.r.URL.Query()
	openid := q.Get("openid")
	if openid == "" {
		c.fail(40003, "invalid openid")
		return
	}
	if q.Get("transaction_id") == "" && (q.Get("mch_id") == "" || q.Get("out_trade_no") == "") {
		c.fail(89300, "invalid trade")
		return
	}
	unionid := userID("unionid", openid)
	if sess, ok := x.lookupSession(c.appid, openid); ok {
		unionid = sess.unionid
	}
	c.ok(map[string]any{"unionid": unionid})
}

// upload is one file of a multipart request.
type upload struct {
	data        []byte
	contentType string
	filename    string
}

var errTooLarge = errors.New("file too large")

// readUpload reads the multipart file field, nil if there is none.
func readUpload(c *wxCall, field string, limit int64) (*upload, error) {
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return nil, nil
	}
	mr, err := c.r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if part.FormName() != field {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(data)) > limit {
			return nil, errTooLarge
		}
		ct := part.Header.Get("Content-Type")
		if ct == "" || ct == "application/octet-stream" {
			ct = http.DetectContentType(data)
		}
		return &upload{data: data, contentType: ct, filename: part.FileName()}, nil
	}
}

// mediaUpload is POST /cgi-bin/media/upload?type=: multipart field "media".
func (x *weixin) mediaUpload(c *wxCall) {
	typ := c.r.URL.Query().Get("type")
	switch typ {
	case "image", "voice", "video", "thumb":
	default:
		c.fail(40004, "invalid media type")
		return
	}
	up, err := readUpload(c, "media", maxMediaSize)
	switch {
	case err == errTooLarge:
		c.fail(40006, "invalid media size")
		return
	case err != nil || up == nil || len(up.data) == 0:
		c.fail(41005, "media data missing")
		return
	}
	id, created := x.storeMedia(c.appid, up)
	c.ok(map[string]any{"type": typ, "media_id": id, "created_at": created.Unix()})
}

// storeMedia keeps an upload as a temporary media of appid.
func (x *weixin) storeMedia(appid string, up *upload) (mediaID string, created time.Time) {
	created = x.s.now()
	mediaID = randomB64URL(48)
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.media) >= maxMedia {
		oldest := ""
		for id, m := range x.media {
			if oldest == "" || m.created.Before(x.media[oldest].created) {
				oldest = id
			}
		}
		delete(x.media, oldest)
	}
	x.media[mediaID] = &wxMedia{appid: appid, contentType: up.contentType, filename: up.filename, data: up.data, created: created}
	return mediaID, created
}

// mediaGet is GET /cgi-bin/media/get: the bytes of an upload of the same
// app, with their content type; 40007 when unknown or older than 3 days.
func (x *weixin) mediaGet(c *wxCall) {
	id := c.r.URL.Query().Get("media_id")
	x.mu.Lock()
	m, ok := x.media[id]
	x.mu.Unlock()
	if !ok || m.appid != c.appid || x.s.now().Sub(m.created) > mediaTTL {
		c.fail(40007, "invalid media_id")
		return
	}
	name := m.filename
	if name == "" {
		name = id
	}
	h := c.w.Header()
	h.Set("Content-Type", m.contentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(len(m.data)))
	c.w.Write(m.data)
}

func (x *weixin) hasMedia(appid, id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	m, ok := x.media[id]
	return ok && m.appid == appid
}

const maxImageSize = 2 << 20 // the cv/img APIs take images under 2M

// cvImage is the image of a /cv/img call: multipart "img", or the img_url
// query parameter (never fetched: no data, a stand-in size). Undecodable
// data is accepted with the stand-in size too.
func (x *weixin) cvImage(c *wxCall) (data []byte, ctype string, w, h int, ok bool) {
	up, err := readUpload(c, "img", maxImageSize)
	switch {
	case err == errTooLarge:
		c.fail(101002, "image too large")
		return nil, "", 0, 0, false
	case up != nil && len(up.data) > 0:
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(up.data)); err == nil {
			return up.data, up.contentType, cfg.Width, cfg.Height, true
		}
		return up.data, up.contentType, 966, 728, true
	case c.r.URL.Query().Get("img_url") != "":
		return nil, "", 966, 728, true
	}
	c.fail(101000, "invalid image url or image data")
	return nil, "", 0, 0, false
}

// imgAICrop is POST /cv/img/aicrop.
func (x *weixin) imgAICrop(c *wxCall) {
	_, _, w, h, ok := x.cvImage(c)
	if !ok {
		return
	}
	c.ok(map[string]any{
		"results": []map[string]int{
			{"crop_left": w / 8, "crop_top": 0, "crop_right": w * 7 / 8, "crop_bottom": h - 1},
			{"crop_left": 0, "crop_top": h / 4, "crop_right": w - 1, "crop_bottom": h * 3 / 4},
		},
		"img_size": map[string]int{"w": w, "h": h},
	})
}

// imgQRCode is POST /cv/img/qrcode: one QR code, its data derived from the image.
func (x *weixin) imgQRCode(c *wxCall) {
	data, _, w, h, ok := x.cvImage(c)
	if !ok {
		return
	}
	side := min(w, h) / 2
	l, t := (w-side)/2, (h-side)/2
	pt := func(x, y int) map[string]int { return map[string]int{"x": x, "y": y} }
	c.ok(map[string]any{
		"code_results": []map[string]any{{
			"type_name": "QR_CODE",
			"data":      "http://weixin.qq.com/r/" + userID("qrcode", string(data), c.r.URL.Query().Get("img_url"))[1:23],
			"pos": map[string]any{
				"left_top":     pt(l, t),
				"right_top":    pt(l+side, t),
				"right_bottom": pt(l+side, t+side),
				"left_bottom":  pt(l, t+side),
			},
		}},
		"img_size": map[string]int{"w": w, "h": h},
	})
}

// imgSuperresolution is POST /cv/img/superresolution: the image scaled 2×
// (when it decodes and is not huge; else the image as sent, or a stand-in
// picture for img_url) is kept as a temporary media.
func (x *weixin) imgSuperresolution(c *wxCall) {
	data, ctype, w, h, ok := x.cvImage(c)
	if !ok {
		return
	}
	var img image.Image
	if data == nil {
		img = renderCode(c.r.URL.Query().Get("img_url"), 430, color.Black, color.White)
	} else if w > 0 && h > 0 && w*h <= 1<<20 {
		// The size from the header first: a small file may claim a huge
		// picture, and decoding it would allocate that much.
		if src, _, err := image.Decode(bytes.NewReader(data)); err == nil {
			img = upscale2(src)
		}
	}
	up := &upload{data: data, contentType: ctype}
	var buf bytes.Buffer
	if img != nil && png.Encode(&buf, img) == nil {
		up = &upload{data: buf.Bytes(), contentType: "image/png"}
	}
	id, _ := x.storeMedia(c.appid, up)
	c.ok(map[string]any{"media_id": id})
}

// getUserPhoneNumber is POST /wxa/business/getuserphonenumber: a phone
// number derived from code; code "invalid" → 40029.
func (x *weixin) getUserPhoneNumber(c *wxCall) {
	switch code := c.str("code"); code {
	case "":
		c.fail(47001, "data format error")
	case "invalid":
		c.fail(40029, "invalid code")
	default:
		c.ok(map[string]any{"phone_info": newPhoneInfo(phoneNumber("code", code), c.appid, x.s.now())})
	}
}

// checkLink validates what /wxa/generatescheme and /wxa/generate_urllink share.
func (x *weixin) checkLink(c *wxCall, target map[string]any) bool {
	if p := str(target, "path"); strings.HasPrefix(p, "/") || strings.Contains(p, "?") {
		c.fail(40165, "invalid weapp pagepath")
		return false
	}
	switch str(target, "env_version") {
	case "", "release", "trial", "develop":
	default:
		c.fail(85402, "invalid env_version")
		return false
	}
	if isExpire, _ := c.body["is_expire"].(bool); isExpire {
		now := x.s.now().Unix()
		if c.str("expire_type") == "1" {
			if n, err := strconv.Atoi(c.str("expire_interval")); err != nil || n < 1 || n > 365 {
				c.fail(85401, "invalid expire_interval")
				return false
			}
		} else if t, err := strconv.ParseInt(c.str("expire_time"), 10, 64); err != nil || t < now+60 || t > now+366*86400 {
			c.fail(85401, "invalid expire_time")
			return false
		}
	}
	return true
}

// generateScheme is POST /wxa/generatescheme.
func (x *weixin) generateScheme(c *wxCall) {
	jump, _ := c.body["jump_wxa"].(map[string]any)
	if !x.checkLink(c, jump) {
		return
	}
	c.ok(map[string]any{"openlink": "weixin://dl/business/?t=" + randomAlnum(11)})
}

// generateURLLink is POST /wxa/generate_urllink.
func (x *weixin) generateURLLink(c *wxCall) {
	if !x.checkLink(c, c.body) {
		return
	}
	c.ok(map[string]any{"url_link": "https://wxaurl.cn/" + randomAlnum(12)})
}

const liveRooms = 23 // every test app has this many live rooms

// getLiveInfo is POST /wxa/business/getliveinfo: room_info[start:start+limit]
// (limit at most 100) of the app's rooms, and total.
func (x *weixin) getLiveInfo(c *wxCall) {
	start, err1 := strconv.Atoi(orDefault(c.str("start"), "0"))
	limit, err2 := strconv.Atoi(orDefault(c.str("limit"), "10"))
	if err1 != nil || err2 != nil || start < 0 || limit < 1 {
		c.fail(47001, "data format error")
		return
	}
	limit = min(limit, 100)
	base := time.Date(2024, 6, 1, 20, 0, 0, 0, chinaTime).Unix()
	statuses := []int{101, 102, 103, 103, 107}
	rooms := []map[string]any{}
	for i := start; i < liveRooms && i < start+limit; i++ {
		id := liveRooms - i // newest first
		begin := base + int64(id)*86400
		rooms = append(rooms, map[string]any{
			"name":            fmt.Sprintf("测试直播间 %d", id),
			"roomid":          id,
			"cover_img":       fmt.Sprintf("https://mmbiz.qpic.cn/mmbiz_jpg/emulator-cover-%d/0", id),
			"share_img":       fmt.Sprintf("https://mmbiz.qpic.cn/mmbiz_jpg/emulator-share-%d/0", id),
			"feeds_img":       "",
			"live_status":     statuses[digest(c.appid, strconv.Itoa(id))%uint64(len(statuses))],
			"start_time":      begin,
			"end_time":        begin + 7200,
			"anchor_name":     "主播" + strconv.Itoa(id),
			"live_type":       0,
			"close_like":      0,
			"close_goods":     0,
			"close_comment":   0,
			"close_kf":        0,
			"close_replay":    0,
			"is_feeds_public": 1,
			"creater_openid":  userID("openid", c.appid, "anchor"),
			"goods": []map[string]any{{
				"goods_id":          100 + id,
				"name":              "测试商品",
				"cover_img":         "https://mmbiz.qpic.cn/mmbiz_png/emulator-goods/0",
				"url":               "pages/index/index",
				"price":             1100,
				"price2":            0,
				"price_type":        1,
				"third_party_appid": "",
			}},
		})
	}
	c.ok(map[string]any{"room_info": rooms, "total": liveRooms})
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var chinaTime = time.FixedZone("CST", 8*3600)
