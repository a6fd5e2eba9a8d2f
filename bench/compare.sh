#!/usr/bin/env bash
# Side-by-side throughput of unicloud_openapi and plain reverse_proxy to the
# same local upstream (README, "Performance"). Needs wrk (apt-get install wrk).
# Also the CPU the measured Caddy spends per request (user + system, from
# /proc), which is what the gateway must not exceed.
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
# cpu_ticks: user+system CPU of the measured Caddy so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$gw/stat"; }
hz=$(getconf CLK_TCK)
# run url body: prints "<requests/s> <CPU µs per request of the measured Caddy>".
run() {
	local before after out reqs
	before=$(cpu_ticks)
	out=$(BODY="$2" wrk -t2 -c32 -d"${secs}s" -s bench/post.lua "$1")
	after=$(cpu_ticks)
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(awk -v a="$after" -v b="$before" -v n="$reqs" -v hz="$hz" 'BEGIN{printf "%.1f", (a-b)/hz*1e6/n}')"
}
for i in $(seq "$rounds"); do
	read -r g gc < <(run http://127.0.0.1:9200/wx/urllink/generate "$gateway_body")
	read -r p pc < <(run "http://127.0.0.1:9200/wxa/generate_urllink?access_token=bench-token" "$proxy_body")
	echo "round $i: unicloud_openapi ${g} req/s ${gc} µs CPU/req, reverse_proxy ${p} req/s ${pc} µs CPU/req," \
		"throughput ratio $(awk -v g="$g" -v p="$p" 'BEGIN{printf "%.3f", g/p}'), CPU ratio $(awk -v g="$gc" -v p="$pc" 'BEGIN{printf "%.3f", g/p}')"
done
