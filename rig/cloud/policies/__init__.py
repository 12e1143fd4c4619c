"""IoT policies: the pure evaluator (engine: parse, variables, authorize) and the stored,
versioned policies with their attachments (store) and control-plane API (api)."""
