cast token --channels orders,user:user_123 --user user_123 --ttl 600
cast publish orders order.created '{"orderId": "abc123", "total": 4999}'
echo '{"status": "shipped"}' | cast publish order:abc123 status.changed - --idempotency-key order-abc123-shipped
