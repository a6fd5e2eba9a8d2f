package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// FailCall answers a gateway error as itself, anything else as a generic upstream error that says nothing of the
// cause (which may hold a provider's detail or a secret), and logs a bad answer signature at WARN.
func TestFailCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		body   string
		level  zapcore.Level
	}{
		{"gateway error", NewError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: outTradeNo"), 400,
			`{"errCode":"UNICLOUD_BAD_REQUEST","errMsg":"missing required parameter: outTradeNo"}`, zapcore.DebugLevel},
		{"wrapped gateway error", fmt.Errorf("call: %w", NewError(http.StatusNotFound, ErrAPINotFound, "unknown API")), 404,
			`{"errCode":"UNICLOUD_API_NOT_FOUND","errMsg":"unknown API"}`, zapcore.DebugLevel},
		{"bad signature", NewError(http.StatusBadGateway, ErrUpstreamBadSignature, "the provider's answer failed the signature check"), 502,
			`{"errCode":"UNICLOUD_UPSTREAM_BAD_SIGNATURE","errMsg":"the provider's answer failed the signature check"}`, zapcore.WarnLevel},
		{"anything else", errors.New("dial tcp: secret=abc123"), 502,
			`{"errCode":"UNICLOUD_UPSTREAM_ERROR","errMsg":"provider call failed"}`, zapcore.DebugLevel},
		{"deadline", context.DeadlineExceeded, 502, `{"errCode":"UNICLOUD_UPSTREAM_ERROR","errMsg":"provider call failed"}`, zapcore.DebugLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			w := httptest.NewRecorder()
			code := FailCall(w, zap.New(core), tc.err, zap.String("call", "x"))
			if w.Code != tc.status || w.Body.String() != tc.body || !strings.Contains(tc.body, `"`+code+`"`) {
				t.Errorf("%d %s (outcome %s), want %d %s", w.Code, w.Body, code, tc.status, tc.body)
			}
			if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json; charset=utf-8" || cc != "no-store" {
				t.Errorf("headers %v", w.Header())
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level != tc.level || entries[0].ContextMap()["err_code"] != code ||
				entries[0].ContextMap()["call"] != "x" {
				t.Errorf("logged %v", entries)
			}
			if strings.Contains(w.Body.String(), "abc123") || (len(entries) == 1 && strings.Contains(fmt.Sprint(entries[0].ContextMap()), "abc123")) {
				t.Error("the cause of a non-gateway error was passed on")
			}
		})
	}
}

func TestDecodeObject(t *testing.T) {
	for in, want := range map[string]string{
		``:              `map[]`,
		" \n\t":         `map[]`,
		`{}`:            `map[]`,
		`{"a":1.50}`:    `map[a:1.50]`, // numbers kept as written
		`{"a":{"b":2}}`: `map[a:map[b:2]]`,
	} {
		m, err := DecodeObject([]byte(in))
		if err != nil || fmt.Sprint(m) != want {
			t.Errorf("%q: %v %v, want %s", in, m, err, want)
		}
	}
	for in, want := range map[string]string{
		`[1]`:           "body must be a JSON object",
		`null`:          "body must be a JSON object",
		`"x"`:           "body must be a JSON object",
		`{"a":`:         "body must be a JSON object",
		`{} {}`:         "body must be a single JSON object",
		`{"a":1}[]`:     "body must be a single JSON object",
		`{"a":1} x`:     "body must be a single JSON object",
		"{\"a\":1}\x00": "body must be a single JSON object",
	} {
		_, err := DecodeObject([]byte(in))
		var ge *Error
		if !errors.As(err, &ge) || ge.Status != 400 || ge.Code != ErrBadRequest || ge.Msg != want {
			t.Errorf("%q: %v, want 400 %s", in, err, want)
		}
	}
}

func TestBodyError(t *testing.T) {
	var ge *Error
	err := BodyError(fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 256 << 10}))
	if !errors.As(err, &ge) || ge.Status != 413 || ge.Code != ErrBodyTooLarge || ge.Msg != "request body larger than max_body (256 KiB)" {
		t.Errorf("too large: %v", err)
	}
	err = BodyError(errors.New("unexpected EOF"))
	if !errors.As(err, &ge) || ge.Status != 400 || ge.Code != ErrBadRequest || ge.Msg != "request body could not be read" {
		t.Errorf("broken: %v", err)
	}
}

func TestWriteAnswer(t *testing.T) {
	w := httptest.NewRecorder()
	WriteAnswer(w, map[string]any{"errCode": 0, "b": "中文", "a": []int{1}})
	if w.Code != 200 || w.Body.String() != `{"a":[1],"b":"中文","errCode":0}` || w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
		t.Errorf("%d %s %v", w.Code, w.Body, w.Header())
	}
	w = httptest.NewRecorder()
	WriteAnswer(w, map[string]any{"bad": func() {}})
	if w.Code != 502 || w.Body.String() != `{"errCode":"UNICLOUD_UPSTREAM_ERROR","errMsg":"answer could not be encoded"}` {
		t.Errorf("unencodable: %d %s", w.Code, w.Body)
	}
}
