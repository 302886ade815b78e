curl -s -i -X POST "$CAST_URL/push/publish" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"channel": "orders", "event": "connected", "data": {}}'
