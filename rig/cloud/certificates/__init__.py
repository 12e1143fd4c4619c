"""Certificates: the reference cloud's CA (ca) and the certificate registry with its life cycle
(store: create, CSR, activate/revoke, delete) and its control-plane API (api)."""
