"""The MQTT host of the reference cloud: the privileged client every service plugs its topics
into (service.py)."""
