curl -s "$CAST_URL/push/sessions?userId=user_123" \
  -H "Authorization: Bearer $CAST_API_KEY"
