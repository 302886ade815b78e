curl -s "$CAST_URL/push/presence?channel=room:1" \
  -H "Authorization: Bearer $CAST_API_KEY"
