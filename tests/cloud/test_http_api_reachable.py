"""Every operation the CLI offers is reachable over the AWS HTTP API by the same code (issue
#16): its name is an operation of the botocore model of its group, and the HTTP dispatch finds
code for it. No cloud needs to run: this reads the models and the facade."""

from __future__ import annotations

import pytest

from rig.cloud.api import Cloud
from rig.cloud.http import dispatch, routes
from rig.commands import iot, iot_data, iot_jobs_data

GROUPS = {
    "iot": iot.OPERATIONS,
    "iot-data": iot_data.OPERATIONS,
    "iot-jobs-data": iot_jobs_data.OPERATIONS,
}


@pytest.fixture
def facade(tmp_path):
    cloud = Cloud(tmp_path)
    yield cloud
    cloud.close()


@pytest.mark.parametrize(
    ("service", "operation"),
    [(service, op.api_name) for service, ops in GROUPS.items() for op in ops],
)
def test_every_cli_operation_is_reachable_over_http(facade, service, operation) -> None:
    assert operation in routes.service_model(service).operation_names
    assert dispatch.implemented(facade, service, operation)


def test_an_unimplemented_operation_is_known_as_such(facade) -> None:
    assert not dispatch.implemented(facade, "iot", "CreateAuditSuppression")
    assert not dispatch.implemented(facade, "iot-data", "GetRetainedMessage")
