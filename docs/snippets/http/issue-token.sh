curl -s -X POST "$CAST_URL/push/tokens" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"channels": ["orders", "user:user_123"], "userId": "user_123", "ttlSeconds": 3600}'
