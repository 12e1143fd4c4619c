"""A fleet of emulated buttons set up at once, for fleet tests and benchmarks: each board gets its
thing, certificate and policy from the cloud (`provision_button`) and, while it is off, the files
the config page would have stored on its flash (`netcfg.json`, `pki/cert.der`, `pki/key.der`,
`pki/ca.der`; docs/contracts.md "Connectivity files"), and the customer's access point on its
virtual radio. One board's set-up through its page is CustomerSetup (provisioning.py); this is
what a factory that writes the identity at the line does, and N of them take seconds, not minutes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rig.cloud.api import Cloud
from rig.drivers.emulated import EmulatedBoard
from rig.mqtt.endpoint import BrokerEndpoint
from rig.strategies.provisioning import Network, label_serial, set_radio

HOME_NETWORK = Network()


def write_identity(
    cloud: Cloud, endpoint: BrokerEndpoint, board: EmulatedBoard, network: Network = HOME_NETWORK
) -> str:
    """Provision the (powered-off) board's thing and store its identity on its flash; -> serial."""
    serial = label_serial(board)
    issued = cloud.provision_button(serial)
    netcfg = {
        "ssid": network.ssid,
        "password": network.password,
        "host": endpoint.server_hostname,
        "port": endpoint.port,
    }
    board.write_file("netcfg.json", json.dumps(netcfg).encode())
    board.write_file("pki/cert.der", issued["certificateDer"])
    board.write_file("pki/key.der", issued["privateKeyDer"])
    board.write_file("pki/ca.der", issued["caDer"])
    set_radio(board, [network.ap()])
    return serial


def set_up_fleet(
    cloud: Cloud, endpoint: BrokerEndpoint, boards: Sequence[EmulatedBoard], group: str
) -> list[str]:
    """Every board provisioned, in the new thing group `group` and started; -> the things
    (serials), in the boards' order. Waiting for their sessions is the caller's."""
    cloud.create_thing_group(group)
    things = []
    for board in boards:
        if board.state != "off":
            board.power_cut()
        thing = write_identity(cloud, endpoint, board)
        cloud.add_thing_to_thing_group(thing_group_name=group, thing_name=thing)
        things.append(thing)
    for board in boards:
        board.start()
    return things
