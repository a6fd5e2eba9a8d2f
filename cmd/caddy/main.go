// Command caddy is a Caddy build with the standard modules and the
// caddy-unicloud plugin: what `xcaddy build --with github.com/caddy-unicloud/unicloud`
// produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-unicloud/unicloud"
)

func main() {
	caddycmd.Main()
}
