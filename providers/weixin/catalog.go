// Package weixin is a client of the WeChat mini-program and official-account
// server API: the catalog of calls, the token authority and the few calls
// that are not a plain request (code2Session, phone number decryption).
package weixin

import (
	"strings"
)

// Kind says how a call is carried out.
type Kind int

const (
	// KindCall is a plain provider call described entirely by its row.
	KindCall Kind = iota
	// KindCode2Session exchanges a login code for openid and session key.
	KindCode2Session
	// KindAccessToken answers the token authority's current token.
	KindAccessToken
	// KindDecryptPhone decrypts encryptedData locally.
	KindDecryptPhone
	// KindRequest is the generic request to any allowed provider path.
	KindRequest
	// KindJSSDKConfig signs a page URL for wx.config with the official
	// account's jsapi_ticket (no provider call on a ticket hit).
	KindJSSDKConfig
	// KindOAuthCode2Session exchanges a web authorization or open-platform
	// login code for the user's openid (oauth.go); the user tokens stay
	// with the gateway.
	KindOAuthCode2Session
	// KindOAuthUserInfo reads the profile with the kept user token.
	KindOAuthUserInfo
)

// TokenKind says which access token a call carries.
type TokenKind int

const (
	// TokenNone: the call needs no access token.
	TokenNone TokenKind = iota
	// TokenApp: the chosen mini-program's token.
	TokenApp
	// TokenH5: the official account's token (h5_app_id).
	TokenH5
)

// ParamType is the JSON type a parameter must have when present.
type ParamType int

const (
	Any ParamType = iota
	String
	Number
	Bool
	Object
	Array
)

func (t ParamType) article() string {
	if t == Any || t == Object || t == Array {
		return "an"
	}
	return "a"
}

func (t ParamType) String() string {
	return [...]string{"any", "string", "number", "boolean", "object", "array"}[t]
}

// Param is a documented parameter of a call, by its provider (snake_case)
// name.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
}

// API is one row of the catalog.
type API struct {
	// Name is the caller's name, e.g. "auth.code2Session".
	Name    string
	Aliases []string
	Kind    Kind
	// Method and Path of the provider call.
	Method string
	Path   string
	Token  TokenKind
	// Params are the documented parameters (provider spelling). Others
	// pass through unchecked.
	Params []Param
	// Rename maps caller parameter names (already snake_case) to the
	// provider's (e.g. code → js_code).
	Rename map[string]string
	// InQuery lists parameters sent in the query string of a POST (WeChat
	// puts media type and image URLs there).
	InQuery []string
	// Upload is the multipart field name of a file the provider expects
	// ("media", "img"); empty when the call takes no file.
	Upload string
	// UploadOptional: the file may be replaced by a parameter (img_url).
	UploadOptional bool
	// Binary: a successful answer is a file (image), not JSON.
	Binary bool
	// Verbatim lists parameters whose value is the caller's own data
	// (template `data`): passed without case conversion. A dotted name
	// ("mp_template_msg.data") is a member of a top-level object.
	Verbatim []string
	// Prepare adjusts the parameters after case conversion and renaming
	// (paging, nesting); it may return a parameter error.
	Prepare func(p map[string]any, c *CallContext) error
}

// CallContext is what Prepare may need to know about the call.
type CallContext struct {
	AppID   string
	H5AppID string
	// FromQuery: the parameters came from a query string, so every value
	// is text; documented numbers and booleans are read from it.
	FromQuery bool
}

func analysis(name, suffix string) API {
	return API{
		Name: "analysis." + name, Method: "POST", Token: TokenApp,
		Path: "/datacube/getweanalysisappid" + suffix,
		Params: []Param{
			{Name: "begin_date", Type: String, Required: true},
			{Name: "end_date", Type: String, Required: true},
		},
	}
}

// templateMessage are the parameters of both template-message calls.
var templateMessage = []Param{
	{Name: "touser", Type: String, Required: true},
	{Name: "template_id", Type: String, Required: true},
	{Name: "url", Type: String},
	{Name: "miniprogram", Type: Object},
	{Name: "data", Type: Object, Required: true},
}

var wxacodeParams = []Param{
	{Name: "width", Type: Number},
	{Name: "auto_color", Type: Bool},
	{Name: "line_color", Type: Object},
	{Name: "is_hyaline", Type: Bool},
}

func imgAPI(name, path string) API {
	return API{
		Name: name, Method: "POST", Path: path, Token: TokenApp,
		Upload: "img", UploadOptional: true, InQuery: []string{"img_url"},
		Params: []Param{{Name: "img_url", Type: String}},
	}
}

// Catalog is every API of both seed products (SPEC §2).
var Catalog = []API{
	{
		Name: "auth.code2Session", Aliases: []string{"auth.getOpenid"}, Kind: KindCode2Session,
		Method: "GET", Path: "/sns/jscode2session",
		Rename: map[string]string{"code": "js_code"},
		Params: []Param{{Name: "js_code", Type: String, Required: true}},
	},
	{Name: "auth.getAccessToken", Kind: KindAccessToken, Token: TokenApp},
	{
		Name: "auth.getPaidUnionId", Method: "GET", Path: "/wxa/getpaidunionid", Token: TokenApp,
		Params: []Param{
			{Name: "openid", Type: String, Required: true},
			{Name: "transaction_id", Type: String},
			{Name: "mch_id", Type: String},
			{Name: "out_trade_no", Type: String},
		},
	},
	analysis("getDailyRetain", "dailyretaininfo"),
	analysis("getMonthlyRetain", "monthlyretaininfo"),
	analysis("getWeeklyRetain", "weeklyretaininfo"),
	analysis("getDailySummary", "dailysummarytrend"),
	analysis("getDailyVisitTrend", "dailyvisittrend"),
	analysis("getMonthlyVisitTrend", "monthlyvisittrend"),
	analysis("getWeeklyVisitTrend", "weeklyvisittrend"),
	analysis("getUserPortrait", "userportrait"),
	analysis("getVisitDistribution", "visitdistribution"),
	analysis("getVisitPage", "visitpage"),
	{
		Name: "customerServiceMessage.getTempMedia", Method: "GET", Path: "/cgi-bin/media/get",
		Token: TokenApp, Binary: true,
		Params: []Param{{Name: "media_id", Type: String, Required: true}},
	},
	{
		Name: "customerServiceMessage.send", Method: "POST", Path: "/cgi-bin/message/custom/send", Token: TokenApp,
		Params: []Param{
			{Name: "touser", Type: String, Required: true},
			{Name: "msgtype", Type: String, Required: true},
			{Name: "text", Type: Object},
			{Name: "image", Type: Object},
			{Name: "link", Type: Object},
			{Name: "miniprogrampage", Type: Object},
		},
	},
	{
		Name: "customerServiceMessage.setTyping", Method: "POST", Path: "/cgi-bin/message/custom/typing", Token: TokenApp,
		Params: []Param{
			{Name: "touser", Type: String, Required: true},
			{Name: "command", Type: String, Required: true},
		},
	},
	{
		Name: "customerServiceMessage.uploadTempMedia", Method: "POST", Path: "/cgi-bin/media/upload", Token: TokenApp,
		Upload: "media", InQuery: []string{"type"},
		Params: []Param{{Name: "type", Type: String, Required: true}},
	},
	{
		Name: "wxacode.createQRCode", Method: "POST", Path: "/cgi-bin/wxaapp/createwxaqrcode", Token: TokenApp, Binary: true,
		Params: []Param{{Name: "path", Type: String, Required: true}, {Name: "width", Type: Number}},
	},
	{
		Name: "wxacode.get", Method: "POST", Path: "/wxa/getwxacode", Token: TokenApp, Binary: true,
		Params: append([]Param{{Name: "path", Type: String, Required: true}}, wxacodeParams...),
	},
	{
		Name: "wxacode.getUnlimited", Method: "POST", Path: "/wxa/getwxacodeunlimit", Token: TokenApp, Binary: true,
		Params: append([]Param{
			{Name: "scene", Type: String, Required: true},
			{Name: "page", Type: String},
			{Name: "check_path", Type: Bool},
			{Name: "env_version", Type: String},
		}, wxacodeParams...),
	},
	imgAPI("img.aiCrop", "/cv/img/aicrop"),
	imgAPI("img.scanQRCode", "/cv/img/qrcode"),
	imgAPI("img.superresolution", "/cv/img/superresolution"),
	{
		Name: "decrypt.getPhoneNumber", Kind: KindDecryptPhone,
		Params: []Param{
			{Name: "encrypted_data", Type: String, Required: true},
			{Name: "iv", Type: String, Required: true},
			{Name: "session_key", Type: String},
			{Name: "openid", Type: String},
		},
	},
	{
		Name: "phoneNumber.getPhoneNumber", Method: "POST", Path: "/wxa/business/getuserphonenumber", Token: TokenApp,
		Params: []Param{{Name: "code", Type: String, Required: true}},
	},
	{
		Name: "urlscheme.generate", Method: "POST", Path: "/wxa/generatescheme", Token: TokenApp,
		Params: []Param{
			{Name: "jump_wxa", Type: Object},
			{Name: "is_expire", Type: Bool},
			{Name: "expire_type", Type: Number},
			{Name: "expire_time", Type: Number},
			{Name: "expire_interval", Type: Number},
		},
	},
	{
		Name: "urllink.generate", Method: "POST", Path: "/wxa/generate_urllink", Token: TokenApp,
		Params: []Param{
			{Name: "path", Type: String},
			{Name: "query", Type: String},
			{Name: "is_expire", Type: Bool},
			{Name: "expire_type", Type: Number},
			{Name: "expire_time", Type: Number},
			{Name: "expire_interval", Type: Number},
			{Name: "cloud_base", Type: Object},
			{Name: "env_version", Type: String},
		},
	},
	{
		Name: "security.msgSecCheck", Method: "POST", Path: "/wxa/msg_sec_check", Token: TokenApp,
		Params: []Param{
			{Name: "content", Type: String, Required: true},
			{Name: "openid", Type: String},
			{Name: "scene", Type: Number},
			{Name: "version", Type: Number},
		},
	},
	{
		Name: "security.imgSecCheck", Method: "POST", Path: "/wxa/img_sec_check", Token: TokenApp,
		Upload: "media",
	},
	{
		Name: "subscribeMessage.send", Method: "POST", Path: "/cgi-bin/message/subscribe/send", Token: TokenApp,
		Verbatim: []string{"data"},
		Params: []Param{
			{Name: "touser", Type: String, Required: true},
			{Name: "template_id", Type: String, Required: true},
			{Name: "page", Type: String},
			{Name: "data", Type: Object, Required: true},
			{Name: "miniprogram_state", Type: String},
			{Name: "lang", Type: String},
		},
	},
	{
		Name: "uniformMessage.send", Method: "POST", Path: "/cgi-bin/message/wxopen/template/uniform_send", Token: TokenApp,
		Verbatim: []string{"data", "mp_template_msg.data"},
		// Prepare nests the flat template parameters into mp_template_msg
		// and checks them there.
		Params:  []Param{{Name: "touser", Type: String, Required: true}, {Name: "mp_template_msg", Type: Object, Required: true}},
		Prepare: prepareUniformMessage,
	},
	{
		Name: "h5.templateMessage.send", Method: "POST", Path: "/cgi-bin/message/template/send", Token: TokenH5,
		Verbatim: []string{"data"},
		Params:   templateMessage,
	},
	{
		Name: "h5.jssdk.getConfig", Kind: KindJSSDKConfig, Token: TokenH5,
		Params: []Param{{Name: "url", Type: String, Required: true}},
	},
	oauthCode2Session("h5"), oauthUserInfo("h5"),
	oauthCode2Session("app"), oauthUserInfo("app"),
	oauthCode2Session("web"), oauthUserInfo("web"),
	{
		Name: "livebroadcast.getLiveInfo", Method: "POST", Path: "/wxa/business/getliveinfo", Token: TokenApp,
		Params: []Param{
			{Name: "page_index", Type: Number},
			{Name: "page_size", Type: Number},
			{Name: "start", Type: Number},
			{Name: "limit", Type: Number},
		},
		Prepare: prepareLivePaging,
	},
	{
		Name: "request", Kind: KindRequest, Token: TokenApp,
		Params: []Param{
			{Name: "method", Type: String},
			{Name: "url", Type: String, Required: true},
			{Name: "data", Type: Object},
		},
		Verbatim: []string{"url"},
	},
}

var byName = func() map[string]*API {
	m := make(map[string]*API, len(Catalog)*2)
	for i := range Catalog {
		a := &Catalog[i]
		m[a.Name] = a
		for _, alias := range a.Aliases {
			m[alias] = a
		}
	}
	return m
}()

// Lookup finds an API by name; slashes and dots are the same
// ("auth/code2Session" is "auth.code2Session"), and a leading slash is
// ignored.
func Lookup(name string) (*API, bool) {
	name = strings.Trim(name, "/")
	name = strings.ReplaceAll(name, "/", ".")
	a, ok := byName[name]
	return a, ok
}

// Suggest returns the catalog name (or alias) nearest to name, for an
// "unknown API" answer: the smallest edit distance, ignoring case, when it is
// small next to the name (at most 3 edits, and at most a third of the name).
// ok is false when nothing is near enough.
func Suggest(name string) (string, bool) {
	name = strings.ReplaceAll(strings.Trim(name, "/"), "/", ".")
	if name == "" {
		return "", false
	}
	lower := strings.ToLower(name)
	best, bestDist := "", -1
	for _, a := range Catalog {
		for _, n := range append([]string{a.Name}, a.Aliases...) {
			if len(n) > len(name)+3 || len(name) > len(n)+3 {
				continue // more than 3 edits apart; and a long name costs nothing
			}
			d := editDistance(lower, strings.ToLower(n))
			if bestDist < 0 || d < bestDist || d == bestDist && n < best {
				best, bestDist = n, d
			}
		}
	}
	if bestDist < 0 || bestDist > 3 || bestDist*3 > len(name) {
		return "", false
	}
	return best, true
}

// editDistance is the Levenshtein distance between a and b, in bytes (API
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
