package alipay

import "strings"

// PayURL is a signed request that the payer's browser opens itself
// (alipay.trade.wap.pay, alipay.trade.page.pay): the gateway URL, then
// "?" and every parameter form-encoded, sign included, as alipay-sdk's
// pageExec(method, "GET", …) builds it. Opened in a browser it is Alipay's
// cashier. No network call is made.
func (c *Client) PayURL(method string, bizContent []byte, extra map[string]string) (string, error) {
	form, err := c.SignedParams(method, bizContent, extra)
	if err != nil {
		return "", err
	}
	endpoint := c.endpoint()
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + form.Encode(), nil
}
