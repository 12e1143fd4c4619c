"""MQTT for the rig: the packet codec, the cloud service's own link, topic filters, a test
device. Below both the broker launcher and the reference cloud."""
