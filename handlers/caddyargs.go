package handlers

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// The Caddyfile argument readers every host and provider module shares.
// Each is called with d on the subdirective's name and reads its arguments;
// an error names the subdirective and what it expects.

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
	n, err := ParseSize(v)
	if err != nil || n <= 0 {
		return 0, d.Errf("%s: %q is not a size", dir, v)
	}
	return n, nil
}

// ParseSize reads a byte size such as 64KB, 1MiB or 65536. A size beyond
// int64 comes out negative, which callers refuse as not positive.
func ParseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	u, err := humanize.ParseBytes(s)
	return int64(u), err
}

// FlagArg reads a subdirective that takes no argument.
func FlagArg(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// PlatformKeyArgs reads the arguments of a WeChat Pay platform_key
// subdirective: the serial (or PUB_KEY_ID_…) and the public key or
// certificate.
func PlatformKeyArgs(d *caddyfile.Dispenser) (serial, key string, err error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return "", "", d.Err("platform_key takes a serial (or PUB_KEY_ID_…) and a public key or certificate")
	}
	return args[0], args[1], nil
}
