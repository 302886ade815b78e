curl -s -X POST "$CAST_URL/push/publish/batch" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"events": [
        {"channel": "order:abc123", "event": "status.changed", "data": {"status": "packed"}},
        {"channel": "user:user_123", "event": "notification", "data": {"message": "Your order is packed"}}
      ]}'
