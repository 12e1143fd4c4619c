"""Fine-grained logging's control plane (SetV2LoggingOptions, GetV2LoggingOptions,
SetV2LoggingLevel, ListV2LoggingLevels, DeleteV2LoggingLevel), mixed into the `Cloud` facade
(rig/cloud/api.py), with the API's response shapes."""

from __future__ import annotations

from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.logging_options.store import LoggingOptions, NotConfiguredException
from rig.cloud.registry.names import page


class LoggingApi(ControlPlane):
    logging_options: LoggingOptions

    def set_v2_logging_options(
        self,
        role_arn: str | None = None,
        default_log_level: str | None = None,
        disable_all_logs: bool | None = None,
    ) -> dict[str, Any]:
        self.logging_options.set_options(role_arn, default_log_level, disable_all_logs)
        return {}

    def get_v2_logging_options(self) -> dict[str, Any]:
        options = LoggingOptions.options(self.logging_options.store.read())
        if options is None:  # the API reference lists NotConfiguredException (LG-2)
            raise NotConfiguredException("V2 logging is not configured")
        response: dict[str, Any] = {}
        if options["role_arn"]:
            response["roleArn"] = options["role_arn"]
        response["defaultLogLevel"] = options["default_log_level"]
        response["disableAllLogs"] = bool(options["disable_all_logs"])
        return response

    def set_v2_logging_level(self, log_target: dict[str, Any], log_level: str) -> dict[str, Any]:
        self.logging_options.set_level(log_target, log_level)
        return {}

    def list_v2_logging_levels(
        self,
        target_type: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        if max_results is not None and not 1 <= max_results <= 250:
            raise InvalidRequestException(f"maxResults must be 1..250, got {max_results}")
        levels = self.logging_options.levels(target_type)
        return page(levels, "logTargetConfigurations", max_results, next_token)

    def delete_v2_logging_level(self, target_type: str, target_name: str) -> dict[str, Any]:
        self.logging_options.delete_level(target_type, target_name)
        return {}
