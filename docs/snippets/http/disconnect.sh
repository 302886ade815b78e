curl -s -X POST "$CAST_URL/push/disconnect" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"userId": "user_123", "reconnect": true}'
