"""The Device Shadow service: the pure document engine (engine), its store of documents and
replies (store), the MQTT responder on the network thread (mqtt) and the REST-shaped API (api)."""
