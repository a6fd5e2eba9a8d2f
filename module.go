// Package unicloud is the Caddy shell of caddy-unicloud: it registers the
// plugin's HTTP handler modules and their Caddyfile directives.
package unicloud

import (
	// The openapi host and its provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi"
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/openapi/weixin"

	// The message-push provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/messagenotify/weixin"
)
