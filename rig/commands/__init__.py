"""Command groups of `buttonrig`; every module here has `register(subparsers)`, except the
shared helpers named in HELPER_MODULES (listed, so a group that forgot `register` still fails
loudly instead of silently vanishing from the CLI)."""

HELPER_MODULES = frozenset(
    {
        "awscli",
        "errors",
        "iot_ca",
        "iot_indexing",
        "iot_jobs",
        "iot_provisioning",
        "iot_rules",
        "log_filter",
        "outfiles",
        "shapes",
    }
)
