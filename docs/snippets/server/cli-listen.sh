cast listen orders order:abc123 --types 'order.*,status.changed'
