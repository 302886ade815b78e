cast presence order:abc123
cast channels --prefix order:
cast disconnect --user user_123 --no-reconnect
cast revoke --user user_123
