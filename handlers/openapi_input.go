package handlers

import (
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// parseMultipart reads a caller's multipart form: the file field (`media` or
// `img`) becomes the upload, other fields become parameters.
func parseMultipart(c *call, body io.Reader, boundary string, api *weixin.API, limit int64) error {
	if boundary == "" {
		return newError(http.StatusBadRequest, ErrBadRequest, "multipart body without boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bodyError(err)
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return bodyError(err)
		}
		name := part.FormName()
		if part.FileName() != "" || name == "media" || name == "img" {
			if c.upload != nil {
				return newError(http.StatusBadRequest, ErrBadRequest, "more than one file in the form")
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
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a base64 string: "+k+".value")
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
				return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be base64 or a data URL: base64")
			}
			ct = strings.TrimSuffix(meta, ";base64")
			s = data
		}
		b64 = s
	}
	data, err := decodeBase64(b64)
	if err != nil {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be base64: "+field)
	}
	if len(data) == 0 {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: "+field)
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
