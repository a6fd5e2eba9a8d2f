package weixin

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
)

// ParamError is a caller mistake in the parameters of a call. Param is the
// caller's (camelCase) name of the parameter.
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Param
}

func missing(name string) *ParamError {
	return &ParamError{Param: callerKey(name), Reason: "missing required parameter"}
}

// callerKey is the caller's spelling of a provider key, for error messages:
// "template_id" → "templateId", "touser" → "toUser", "openid" → "openid".
func callerKey(name string) string { return casing.CallerKey(name) }

// Control parameters are the gateway's, never forwarded to the provider.
var controlParams = map[string]bool{
	"app_id": true, "appid": true, "access_token": true, "encoding": true,
	"secret": true, "appsecret": true, "app_secret": true,
}

// PrepareParams turns the caller's parameters (camelCase or snake_case) into
// the provider's: case-converted except Verbatim members, renamed, adjusted
// by the row's Prepare, and checked against the documented parameters.
// Control parameters (appId, accessToken, encoding, secrets) are removed.
func (a *API) PrepareParams(in map[string]any, cc *CallContext) (map[string]any, error) {
	out, _ := casing.ToSnake(in, a.Verbatim...).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	a.restoreNestedVerbatim(in, out)
	for k := range out {
		if controlParams[k] {
			delete(out, k)
		}
	}
	for from, to := range a.Rename {
		if v, ok := out[from]; ok {
			if _, taken := out[to]; !taken {
				out[to] = v
			}
			delete(out, from)
		}
	}
	if cc.FromQuery {
		a.coerceQuery(out)
	}
	if a.Prepare != nil {
		if err := a.Prepare(out, cc); err != nil {
			return nil, err
		}
	}
	for _, p := range a.Params {
		v, ok := out[p.Name]
		if !ok || v == nil || v == "" {
			if p.Required {
				return nil, missing(a.callerName(p.Name))
			}
			continue
		}
		if !hasType(v, p.Type) {
			return nil, &ParamError{Param: callerKey(a.callerName(p.Name)), Reason: "parameter must be " + p.Type.article() + " " + p.Type.String()}
		}
	}
	return out, nil
}

// restoreNestedVerbatim puts back, unconverted, the caller's value of each
// nested Verbatim member ("mp_template_msg.data"): ToSnake keeps only
// top-level members verbatim.
func (a *API) restoreNestedVerbatim(in, out map[string]any) {
	for _, v := range a.Verbatim {
		parent, child, nested := strings.Cut(v, ".")
		if !nested {
			continue
		}
		src, ok := memberOf(in, parent).(map[string]any)
		dst, ok2 := out[parent].(map[string]any)
		if !ok || !ok2 {
			continue
		}
		if raw := memberOf(src, child); raw != nil {
			dst[child] = raw
		}
	}
}

// memberOf is the member of m named name in the provider's spelling or the
// caller's.
func memberOf(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if casing.SnakeKey(k) == name {
			return v
		}
	}
	return nil
}

// coerceQuery reads documented numbers and booleans from the text a query
// string gives (GET calls); text that is not one is left for the type check
// to refuse.
func (a *API) coerceQuery(p map[string]any) {
	for _, param := range a.Params {
		s, ok := p[param.Name].(string)
		if !ok {
			continue
		}
		switch param.Type {
		case Number:
			if s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s)) {
				p[param.Name] = json.Number(s)
			}
		case Bool:
			if b, err := strconv.ParseBool(s); err == nil {
				p[param.Name] = b
			}
		}
	}
}

// callerName is the name the seeds document for a provider parameter: the
// source of a rename (code for js_code), else the parameter itself.
func (a *API) callerName(name string) string {
	for from, to := range a.Rename {
		if to == name {
			return from
		}
	}
	return name
}

func hasType(v any, t ParamType) bool {
	switch t {
	case String:
		_, ok := v.(string)
		return ok
	case Number:
		switch v.(type) {
		case json.Number, float64, int, int64:
			return true
		}
		return false
	case Bool:
		_, ok := v.(bool)
		return ok
	case Object:
		_, ok := v.(map[string]any)
		return ok
	case Array:
		_, ok := v.([]any)
		return ok
	}
	return true
}

// number reads an integer parameter.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return 0, false
			}
			return int64(f), true
		}
		return i, true
	case float64:
		if n != math.Trunc(n) {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

// prepareLivePaging maps the seeds' pageIndex/pageSize (1-based pages) to
// WeChat's start/limit; explicit start/limit win.
func prepareLivePaging(p map[string]any, _ *CallContext) error {
	index, size := int64(1), int64(10)
	if v, ok := p["page_index"]; ok {
		n, ok := number(v)
		if !ok || n < 1 {
			return &ParamError{Param: "pageIndex", Reason: "parameter must be a positive integer"}
		}
		index = n
	}
	if v, ok := p["page_size"]; ok {
		n, ok := number(v)
		if !ok || n < 1 || n > 100 {
			return &ParamError{Param: "pageSize", Reason: "parameter must be an integer from 1 to 100"}
		}
		size = n
	}
	delete(p, "page_index")
	delete(p, "page_size")
	if _, ok := p["start"]; !ok {
		p["start"] = (index - 1) * size
	}
	if _, ok := p["limit"]; !ok {
		p["limit"] = size
	}
	return nil
}

// prepareUniformMessage nests vk-unicloud's flat parameters into WeChat's
// mp_template_msg, with the official account's appid by default.
func prepareUniformMessage(p map[string]any, cc *CallContext) error {
	if msg, nested := p["mp_template_msg"].(map[string]any); nested {
		// uniCloud's nested form: the official account's appid unless
		// the caller names one.
		if a, _ := msg["appid"].(string); a == "" {
			if cc.H5AppID == "" {
				return &ParamError{Param: "mpTemplateMsg.appid", Reason: "missing required parameter (no h5_app_id configured)"}
			}
			msg["appid"] = cc.H5AppID
		}
		return nil
	}
	appid, _ := p["template_appid"].(string)
	if appid == "" {
		appid = cc.H5AppID
	}
	if appid == "" {
		return &ParamError{Param: "templateAppid", Reason: "missing required parameter (no h5_app_id configured)"}
	}
	msg := map[string]any{"appid": appid}
	for _, k := range []string{"template_id", "url", "miniprogram", "data"} {
		if v, ok := p[k]; ok {
			msg[k] = v
		}
	}
	if _, ok := msg["template_id"]; !ok {
		return missing("template_id")
	}
	if _, ok := msg["data"]; !ok {
		return missing("data")
	}
	touser := p["touser"]
	for k := range p {
		delete(p, k)
	}
	p["touser"] = touser
	p["mp_template_msg"] = msg
	return nil
}

// paramString renders a parameter for a query string.
func paramString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case float64, int, int64:
		return fmt.Sprint(x), nil
	case nil:
		return "", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}
