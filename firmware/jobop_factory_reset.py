# The `factory-reset` job operation: the identity and network configuration go (certs.factory_
# reset, as the rig's config reset does; settings, serial and the firmware stay), then a reset:
# the board comes up unconfigured, in config mode. SUCCEEDED is reported first, since without its
# identity the board can never report again. Document: {"operation": "factory-reset"}.


async def run(agent, _job):
    await agent.progress(step="wiping")
    await agent.update("SUCCEEDED", {"step": "wiped"})
    import certs
    import machine

    certs.factory_reset()
    machine.reset()
