// Package guest holds the Caddyfile argument readers shared by
// unicloud_payment_notify and its provider modules.
package guest

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// OneArg reads exactly one argument of the current subdirective.
func OneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// StringArg sets *dst to the subdirective's one argument; a subdirective
// given twice is an error.
func StringArg(d *caddyfile.Dispenser, dst *string) error {
	dir := d.Val()
	v, err := OneArg(d)
	if err != nil {
		return err
	}
	if *dst != "" {
		return d.Errf("%s is given twice", dir)
	}
	*dst = v
	return nil
}

// DurationArg reads the subdirective's one argument, a positive duration.
func DurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	dir := d.Val()
	v, err := OneArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: %q is not a positive duration", dir, v)
	}
	return caddy.Duration(dur), nil
}

// SizeArg reads the subdirective's one argument, a positive byte size
// such as 64KB, 1MiB or 65536.
func SizeArg(d *caddyfile.Dispenser) (int64, error) {
	dir := d.Val()
	v, err := OneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		var u uint64
		u, err = humanize.ParseBytes(v)
		n = int64(u)
	}
	if err != nil || n <= 0 {
		return 0, d.Errf("%s: %q is not a size", dir, v)
	}
	return n, nil
}
