curl -s -X POST "$CAST_URL/push/tokens" \
  -H "Authorization: Bearer $CAST_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"channels": ["room:1"], "userId": "ada", "presence": true, "userInfo": {"name": "Ada"}}'
