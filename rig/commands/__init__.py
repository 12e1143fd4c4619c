"""Command groups of `buttonrig`; every module here has `register(subparsers)`."""
