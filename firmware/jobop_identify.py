# The `identify` job operation: the LED plays the `identify` pattern (a fast green blink, led.py)
# so someone can tell which button in a room the job reached. Document: {"operation":
# "identify"}.
import asyncio

import led


async def run(agent, _job):
    app = agent.app
    app.led.show("identify")
    _colour, steps, repeats = led.PATTERNS["identify"]
    await asyncio.sleep_ms(sum(steps) * repeats)
    return "SUCCEEDED", {"pattern": "identify"}
