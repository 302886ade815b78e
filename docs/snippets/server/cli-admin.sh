cast presence order:abc123
cast disconnect --user user_123 --no-reconnect
cast revoke --user user_123
