"""Hardware-in-the-loop test rig for Wi-Fi buttons: boards, broker, reference cloud, benchmarks.

Repository paths live in host.paths (the rig composes the host tools, never the reverse)."""
