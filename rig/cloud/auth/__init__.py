"""What the broker enforces, made from registry, certificates and policies: the ACL (acl), the
ACL file and CRL compiled for mosquitto (compiler), and the SUBSCRIBE/PUBLISH denials mosquitto
cannot make itself, enforced by disconnecting (enforcer)."""
