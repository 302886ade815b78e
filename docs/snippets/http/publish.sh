curl -s -X POST "$CAST_URL/push/publish" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"channel": "orders", "event": "order.created", "data": {"orderId": "abc123", "total": 4999, "currency": "AOA"}}'
