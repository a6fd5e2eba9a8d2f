// Package unicloud is the Caddy shell of caddy-unicloud: it registers the
// plugin's HTTP handler modules and their Caddyfile directives.
package unicloud

import (
	// The openapi host and its provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi"
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi/weixin"

	// The payment host and its provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/payment"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayv2"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayv3"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayvirtual"

	// The payment-notification host and its provider guest modules
	// register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/notify"
	_ "github.com/caddy-unicloud/unicloud/handlers/notify/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/notify/wxpay"

	// The message-push provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/messagenotify/weixin"
)
