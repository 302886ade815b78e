curl -s "$CAST_URL/healthz"
curl -s "$CAST_URL/readyz"
curl -s "$CAST_URL/metrics" | grep '^cast_connections'
