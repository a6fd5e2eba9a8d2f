// Package unicloud is the Caddy shell of caddy-unicloud: it registers the
// plugin's HTTP handler modules and their Caddyfile directives.
package unicloud

import (
	// The message-push provider guest modules register themselves.
	_ "github.com/caddy-unicloud/unicloud/handlers/messagenotify/weixin"
)
