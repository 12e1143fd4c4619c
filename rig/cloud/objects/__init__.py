"""The rig's S3: a local S3-compatible object store (moto's server mode) for the files the AWS
IoT Device Management workshop keeps in S3 (bulk registration input, reports), started and
stopped with the cloud like mosquitto, reached with boto3 (docs/cloud-decisions.md PV-8).

* `server.py`: the server process, its port kept per home, its objects kept in the home.
* `client.py`: a boto3 S3 client on it, `s3://bucket/key` URLs.
"""
