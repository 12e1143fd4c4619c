# The `reboot` job operation: report step `rebooting`, reset; on the next boot the execution is
# still IN_PROGRESS with that step and resume() makes it SUCCEEDED (with the boot's reset cause).
# Document: {"operation": "reboot"}.


def resume(agent, _job):
    if agent.details.get("step") == "rebooting":
        import power

        return "SUCCEEDED", {"step": "rebooted", "reset": power.reset_name()}
    return None


async def run(agent, _job):
    await agent.progress(step="rebooting")
    import machine

    machine.reset()
