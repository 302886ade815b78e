curl -s -X POST "$CAST_URL/push/revoke" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"userId": "user_123"}'
