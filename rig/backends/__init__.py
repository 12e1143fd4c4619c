"""The clouds the rig runs against, behind one interface (base.CloudBackend): the local reference
cloud (local.py) and AWS IoT Core through boto3 (aws.py)."""
