"""The workshop's JITR Lambda function (Appendix A.4's steps: thing jitr-<id>, a policy named
after the certificate id, ACTIVE, the attachments) as a local function on the cloud's Python
API, zipped as `lambda_function.zip`."""

from __future__ import annotations

from function_zip import function_zip

JITR_FUNCTION = """
import json
import os
from pathlib import Path

from rig.cloud.api import Cloud

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})


def described_status(cloud, certificate_id):
    return cloud.describe_certificate(certificate_id)["certificateDescription"]["status"]


def lambda_handler(event, context):
    cloud = Cloud(Path(os.environ["BUTTONRIG_HOME"]))
    try:
        certificate_id = event["certificateId"]
        thing = "jitr-" + certificate_id
        if described_status(cloud, certificate_id) == "ACTIVE":
            return  # the event of a second connection while this ran: done already
        cloud.create_thing(thing)
        cloud.create_policy(certificate_id, ALLOW_ALL)
        cloud.update_certificate(certificate_id, "ACTIVE")
        described = cloud.describe_certificate(certificate_id)["certificateDescription"]
        cloud.attach_thing_principal(thing, described["certificateArn"])
        cloud.attach_policy(certificate_id, described["certificateArn"])
        print("activated " + certificate_id)
    finally:
        cloud.close()
"""


def jitr_zip() -> bytes:
    return function_zip(JITR_FUNCTION)
