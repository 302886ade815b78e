curl -s -w '\n' "$CAST_URL/healthz"
curl -s -w '\n' "$CAST_URL/readyz"
curl -s "$CAST_URL/metrics" | grep '^cast_connections'
