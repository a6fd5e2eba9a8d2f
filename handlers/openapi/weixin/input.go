package weixin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// parse reads the caller's parameters: query string (GET), JSON object or
// multipart form (uploads).
func (wx *Weixin) parse(r *http.Request, api *weixin.API) (*call, error) {
	c := &call{params: map[string]any{}}
	var query url.Values
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	for k, vs := range query {
		if len(vs) > 1 && controlNames[k] != "" {
			// ?appId=a&appId=b: which app is meant is not the
			// gateway's guess.
			return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter given more than once: "+controlNames[k])
		}
		if len(vs) > 0 {
			c.params[k] = vs[0]
		}
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body := r.Body // bounded by the host's max_body
		mt, mparams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			if err := parseMultipart(c, body, mparams["boundary"]); err != nil {
				return nil, err
			}
		} else {
			b, err := io.ReadAll(body)
			if err != nil {
				return nil, handlers.BodyError(err)
			}
			m, err := decodeObject(b)
			if err != nil {
				return nil, err
			}
			for k, v := range m {
				c.params[k] = v
			}
		}
	}
	// Control parameters.
	var err error
	if c.appID, err = controlString(c.params, "appId"); err != nil {
		return nil, err
	}
	if ids := r.Header.Values("X-Unicloud-App-Id"); c.appID == "" && len(ids) > 1 {
		return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "header given more than once: X-Unicloud-App-Id")
	}
	if c.token, err = controlString(c.params, "accessToken"); err != nil {
		return nil, err
	}
	encoding, err := controlString(c.params, "encoding")
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(encoding, "base64") {
		c.base64 = true
	}
	if acceptsJSONOnly(r.Header.Values("Accept")) {
		c.base64 = true
	}
	delete(c.params, "encoding")
	if api.Upload != "" && c.upload == nil {
		up, err := jsonUpload(c.params, api.Upload)
		if err != nil {
			return nil, err
		}
		c.upload = up
	}
	return c, nil
}

// decodeObject reads a caller's JSON body as handlers.DecodeObject does
// (empty: no parameters; one JSON object, numbers as json.Number), in one
// pass over a validated body instead of encoding/json's reflection.
func decodeObject(b []byte) (map[string]any, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return map[string]any{}, nil
	}
	if t[0] != '{' || !json.Valid(t) { // json.Valid: iterative, depth-bounded
		return handlers.DecodeObject(b) // and its error
	}
	m, _ := jsonValue(gjson.ParseBytes(t)).(map[string]any)
	return m, nil
}

// jsonValue is r as encoding/json decodes it into an any (UseNumber). r is
// valid JSON.
func jsonValue(r gjson.Result) any {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.False:
		return false
	case gjson.True:
		return true
	case gjson.Number:
		return json.Number(r.Raw)
	case gjson.String:
		return validUTF8(r.Str)
	}
	if r.IsArray() {
		arr := []any{}
		r.ForEach(func(_, v gjson.Result) bool {
			arr = append(arr, jsonValue(v))
			return true
		})
		return arr
	}
	m := map[string]any{}
	r.ForEach(func(k, v gjson.Result) bool {
		m[validUTF8(k.Str)] = jsonValue(v)
		return true
	})
	return m
}

// validUTF8 replaces each invalid byte of s with U+FFFD, as encoding/json
// does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// controlNames maps every accepted spelling of a control parameter (the
// gateway's, never forwarded) to the caller's name for it.
var controlNames = map[string]string{
	"appId": "appId", "appid": "appId", "app_id": "appId",
	"accessToken": "accessToken", "access_token": "accessToken",
	"encoding": "encoding",
}

// controlString reads the control parameter name, given in any of its
// spellings. It must be a string: an array, number, object or boolean is
// refused rather than ignored (an ignored appId would serve the default
// app). null and "" are absent; two spellings with different values are
// refused.
func controlString(params map[string]any, name string) (string, error) {
	value := ""
	for k, n := range controlNames {
		if n != name {
			continue
		}
		raw, ok := params[k]
		if !ok || raw == nil {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be a string: "+name)
		}
		if s == "" {
			continue
		}
		if value != "" && value != s {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter given twice with different values: "+name)
		}
		value = s
	}
	return value, nil
}

// acceptsJSONOnly reports whether the Accept header asks for JSON and not
// for images or anything (a library's default "application/json,
// text/plain, */*" still gets the image).
func acceptsJSONOnly(accept []string) bool {
	json := false
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			switch {
			case mt == "application/json":
				json = true
			case mt == "*/*" || strings.HasPrefix(mt, "image/"):
				return false
			}
		}
	}
	return json
}

// parseMultipart reads a caller's multipart form: the file field (`media` or
// `img`) becomes the upload, other fields become parameters.
func parseMultipart(c *call, body io.Reader, boundary string) error {
	if boundary == "" {
		return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "multipart body without boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return handlers.BodyError(err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return handlers.BodyError(err)
		}
		name := part.FormName()
		if part.FileName() != "" || name == "media" || name == "img" {
			if c.upload != nil {
				return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "more than one file in the form")
			}
			c.upload = &weixin.Upload{Filename: part.FileName(), ContentType: part.Header.Get("Content-Type"), Data: data}
			continue
		}
		c.params[name] = string(data)
	}
}

// jsonUpload takes a file given in JSON: {field: {contentType, value}} with
// value in base64 (uniCloud's shape), or {base64: "..."} (vk-unicloud's,
// optionally a data: URL).
func jsonUpload(params map[string]any, field string) (*weixin.Upload, error) {
	var ct, b64 string
	for _, k := range []string{"media", "img"} {
		obj, ok := params[k].(map[string]any)
		if !ok {
			continue
		}
		ct, _ = obj["contentType"].(string)
		if ct == "" {
			ct, _ = obj["content_type"].(string)
		}
		v, ok := obj["value"].(string)
		if !ok {
			return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be a base64 string: "+k+".value")
		}
		b64 = v
		delete(params, k)
		break
	}
	if b64 == "" {
		s, ok := params["base64"].(string)
		if !ok {
			return nil, nil
		}
		delete(params, "base64")
		if rest, found := strings.CutPrefix(s, "data:"); found {
			meta, data, ok := strings.Cut(rest, ",")
			if !ok {
				return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be base64 or a data URL: base64")
			}
			ct = strings.TrimSuffix(meta, ";base64")
			s = data
		}
		b64 = s
	}
	data, err := decodeBase64(b64)
	if err != nil {
		return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "parameter must be base64: "+field)
	}
	if len(data) == 0 {
		return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: "+field)
	}
	return &weixin.Upload{ContentType: ct, Data: data}, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func parseQuery(q string) (url.Values, error) {
	if q == "" {
		return url.Values{}, nil
	}
	return url.ParseQuery(q)
}
