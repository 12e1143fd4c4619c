"""Account, region and ARNs of the local cloud (fixed: the model has one account and region)."""

from __future__ import annotations

ACCOUNT = "123456789012"
REGION = "us-east-1"
_PREFIX = f"arn:aws:iot:{REGION}:{ACCOUNT}"


def thing_arn(name: str) -> str:
    return f"{_PREFIX}:thing/{name}"


def thing_type_arn(name: str) -> str:
    return f"{_PREFIX}:thingtype/{name}"


def thing_group_arn(name: str) -> str:
    return f"{_PREFIX}:thinggroup/{name}"


def job_arn(job_id: str) -> str:
    return f"{_PREFIX}:job/{job_id}"


def cert_arn(certificate_id: str) -> str:
    return f"{_PREFIX}:cert/{certificate_id}"


def policy_arn(name: str) -> str:
    return f"{_PREFIX}:policy/{name}"


def client_arn(client_id: str) -> str:
    return f"{_PREFIX}:client/{client_id}"


def topic_arn(topic: str) -> str:
    return f"{_PREFIX}:topic/{topic}"


def topicfilter_arn(topic_filter: str) -> str:
    return f"{_PREFIX}:topicfilter/{topic_filter}"


def resource_name(arn: str, kind: str) -> str | None:
    """The name after `:<kind>/` in an ARN of this account, or None when it is not one."""
    prefix = f"{_PREFIX}:{kind}/"
    return arn[len(prefix) :] if arn.startswith(prefix) else None
