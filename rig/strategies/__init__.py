"""Strategies bring a board to a state; drivers (rig.drivers) only drive one. This is labgrid's
split: a driver knows how to talk to a board (console, side channel, flash, reset) and nothing of
what the board should become, while a strategy composes drivers with the rest of the rig (the
cloud, the broker) to reach a state — provisioned as a customer would (`provisioning`), or kept
running in the background under a control socket (`supervisor`, `python -m
rig.strategies.supervisor`). Strategies may import drivers and rig.cloud; rig.drivers imports
nothing from rig.cloud or rig.strategies."""
