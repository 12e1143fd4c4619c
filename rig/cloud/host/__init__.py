"""The MQTT host of the reference cloud: the privileged client every service plugs its topics
into (service.py) and what the broker's log says about fired Last Wills (wills.py)."""
