cast presence order:abc123
cast channels --prefix order:
cast disconnect --user user_123              # --reconnect to have the clients come back
cast revoke --user user_123
