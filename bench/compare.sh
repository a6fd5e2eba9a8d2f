#!/usr/bin/env bash
# Side-by-side throughput of unicloud_openapi and plain reverse_proxy to the
# same local upstream (README, "Performance"). Needs wrk (apt-get install wrk).
# Loopback only. Usage: bench/compare.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
go build -o /tmp/unicloud-bench-caddy ./cmd/caddy
/tmp/unicloud-bench-caddy run --config bench/upstream.Caddyfile >/dev/null 2>&1 &
up=$!
BENCH_STORAGE=$(mktemp -d) /tmp/unicloud-bench-caddy run --config bench/gateway.Caddyfile >/dev/null 2>&1 &
gw=$!
trap 'kill $up $gw 2>/dev/null' EXIT
sleep 2
gateway_body='{"path":"pages/index/index","query":"a=1","isExpire":false}'
proxy_body='{"path":"pages/index/index","query":"a=1","is_expire":false}'
curl -fsS -d "$gateway_body" http://127.0.0.1:9200/wx/urllink/generate >/dev/null
rps() { # url body
	BODY="$2" wrk -t2 -c32 -d"${secs}s" -s bench/post.lua "$1" | awk '/Requests\/sec/ {print $2}'
}
for i in $(seq "$rounds"); do
	g=$(rps http://127.0.0.1:9200/wx/urllink/generate "$gateway_body")
	p=$(rps "http://127.0.0.1:9200/wxa/generate_urllink?access_token=bench-token" "$proxy_body")
	echo "round $i: unicloud_openapi ${g} req/s, reverse_proxy ${p} req/s, ratio $(awk -v g="$g" -v p="$p" 'BEGIN{printf "%.3f", g/p}')"
done
