"""The authorization decisions the broker's plugin (rig/broker_plugin/buttonrig_auth.c) asks
for: may this certificate connect with this client id, and with which permissions (decisions),
answered on a Unix socket (plugin_server)."""
