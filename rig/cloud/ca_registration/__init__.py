"""Your own CA (the guide's "Use Your Own Certificate"): CA certificates registered with a
registration code (store), the device certificates registered under them, the broker's trust in
them (trust: an OpenSSL hash directory), and what happens when a device with an unknown
certificate from a registered CA connects: just-in-time registration and provisioning
(admission; JITP applies its template with rig/cloud/provisioning)."""
