curl -s -X POST "$CAST_URL/push/publish" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: order-abc123-shipped" \
  -d '{"channel": "order:abc123", "event": "status.changed", "data": {"status": "shipped"}}'
