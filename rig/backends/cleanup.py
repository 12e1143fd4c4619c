"""Delete what one run of the AWS backend created (`buttonrig aws-cleanup --prefix …`): the
things carrying its run attribute with their certificates, the policies and jobs named with its
prefix. Safe to run twice; what is already gone is skipped."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

RUN_ATTRIBUTE = "buttonrig_run"


def _pages(call: Any, key: str, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    token: str | None = None
    while True:
        page = call(**kwargs, **({"nextToken": token} if token else {}))
        found.extend(page.get(key, []))
        token = page.get("nextToken")
        if not token:
            return found


def _quietly(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_run(iot: Any, prefix: str) -> list[str]:
    """Everything of the run `prefix` deleted from the account `iot` (a boto3 iot client)."""
    deleted: list[str] = []
    things = _pages(
        iot.list_things,
        "things",
        attributeName=RUN_ATTRIBUTE,
        attributeValue=prefix.rstrip("-"),
    )
    for thing in things:
        name = thing["thingName"]
        for principal in _pages(iot.list_thing_principals, "principals", thingName=name):
            _quietly(iot.detach_thing_principal, thingName=name, principal=principal)
            for policy in _pages(iot.list_attached_policies, "policies", target=principal):
                _quietly(iot.detach_policy, policyName=policy["policyName"], target=principal)
            certificate_id = principal.rsplit("/", 1)[1]
            _quietly(iot.update_certificate, certificateId=certificate_id, newStatus="INACTIVE")
            if _quietly(iot.delete_certificate, certificateId=certificate_id, forceDelete=True):
                deleted.append(principal)
        if _quietly(iot.delete_thing, thingName=name):
            deleted.append(thing["thingArn"])
    for policy in _pages(iot.list_policies, "policies"):
        if policy["policyName"].startswith(prefix):
            if _quietly(iot.delete_policy, policyName=policy["policyName"]):
                deleted.append(policy["policyArn"])
    for job in _pages(iot.list_jobs, "jobs"):
        if job["jobId"].startswith(prefix):
            if _quietly(iot.delete_job, jobId=job["jobId"], force=True):
                deleted.append(job["jobArn"])
    return deleted
