"""`OneClick`: the 1-Click devices and projects APIs and the click delivery over one database,
reached as `Cloud.oneclick` (`.devices`, `.projects`, `.delivery`)."""

from __future__ import annotations

from rig.cloud.certificates.store import Certificates
from rig.cloud.core.arn import ACCOUNT, REGION
from rig.cloud.core.errors import CloudError
from rig.cloud.core.store import Store
from rig.cloud.oneclick.delivery import ClickDelivery
from rig.cloud.oneclick.devices import Devices
from rig.cloud.oneclick.invoker import FunctionInvoker
from rig.cloud.oneclick.projects import Projects
from rig.cloud.oneclick.store import OneClickStore
from rig.cloud.registry import Registry

CERT_ARN_MARK = ":cert/"


class OneClick:
    def __init__(self, store: Store, registry: Registry, certificates: Certificates) -> None:
        self.registry = registry
        self.certificates = certificates
        tables = OneClickStore(store)
        # C-1: one account and region, the cloud's (the seeds' us-west-2 is AWS's device region)
        self.devices = Devices(tables, self.active_certificate, REGION, ACCOUNT)
        self.projects = Projects(tables, REGION, ACCOUNT)
        self.delivery = ClickDelivery(tables, self.active_certificate, REGION)

    def use_functions(self, invoker: FunctionInvoker) -> None:
        """Where callbacks go: the local Lambda functions (`Cloud.functions`), or a test's."""
        self.delivery.invoker = invoker

    def active_certificate(self, device_id: str) -> str | None:
        """The id of the ACTIVE certificate attached to the device's thing (the certificate a
        1-Click device is tied to, C-1), None when there is no such thing or certificate."""
        try:
            principals = self.registry.list_thing_principals(device_id)["principals"]
        except CloudError:
            return None
        for principal in principals:
            if CERT_ARN_MARK not in principal:
                continue
            certificate_id = principal.split(CERT_ARN_MARK, 1)[1]
            try:
                described = self.certificates.describe_certificate(certificate_id)
            except CloudError:
                continue
            if described["certificateDescription"]["status"] == "ACTIVE":
                return certificate_id
        return None
