package xpay

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// MapAnswer turns WeChat's answer to api into the caller's: keys camelCased recursively (errcode → errCode,
// order.left_fee → order.leftFee), yuan strings of api.AnswerYuan in fen. errcode ≠ 0 is an *Error; errCode and
// errMsg are left out of the answer (the gateway adds its own).
func MapAnswer(api *API, raw []byte) (pay.Answer, error) {
	camel, err := casing.CamelJSON(raw)
	if err != nil {
		return nil, pay.Upstream(false, "WeChat's answer is not JSON", err)
	}
	dec := json.NewDecoder(bytes.NewReader(camel))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, pay.Upstream(false, "WeChat's answer is not a JSON object", err)
	}
	code, _ := m["errCode"].(json.Number)
	if code != "" && code != "0" {
		n, err := strconv.ParseInt(code.String(), 10, 64)
		if err != nil {
			return nil, pay.Upstream(false, "WeChat's answer has an errcode that is not an integer", err)
		}
		msg, _ := m["errMsg"].(string)
		return nil, &Error{Code: n, Msg: msg}
	}
	delete(m, "errCode")
	delete(m, "errMsg")
	for _, name := range api.AnswerYuan {
		s, ok := m[name].(string)
		if !ok {
			continue
		}
		fen, ok := YuanToFen(s)
		if !ok {
			return nil, pay.Upstream(false, "WeChat's answer has a "+name+" that is not a yuan amount", nil)
		}
		m[name] = json.Number(strconv.FormatInt(fen, 10))
	}
	return pay.Answer(m), nil
}
