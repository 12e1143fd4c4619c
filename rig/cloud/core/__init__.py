"""Cloud core: what every service of the reference cloud stands on - the SQLite store and its
per-component migrations, ARNs, AWS-named errors, the event outbox and its configuration, the
reply encoding, and the running cloud's endpoint file."""
