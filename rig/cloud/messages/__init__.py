"""Messages published through the data plane (iot-data Publish), not by a device."""
