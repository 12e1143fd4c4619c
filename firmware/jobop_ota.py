# The `ota` job operation: the application bundle of docs/contracts.md "OTA job document", with
# ota.py doing the download, the checks and the A/B switch. Steps reported in statusDetails:
# `downloading` (`got` of `size` bytes), `installing`, then the board resets into the new folder
# on trial; there the new firmware's first accepted update (`healthy`) confirms it and the job
# SUCCEEDS with its `version`. A trial that fails (main.py rolled back) is FAILED "rolled back
# to <version>"; a bundle whose size or SHA-256 differs is FAILED before anything is installed.
import asyncio

import identity
import ota
import store
from fault import Fault, backoff_ms

MAX_SIZE = 2 * 1024 * 1024  # more than an application folder may take on a 4 MB chip
CA = "pki/ca.der"  # certs.CA: the endpoint's root CA verifies the file server too
_HEX = "0123456789abcdef"
DOWNLOAD_TRIES = 3


def _bad(doc):
    # the first key of the document that is missing or wrong, or None
    v = doc.get("version")
    if not isinstance(v, str) or not 0 < len(v) <= 64:
        return "version"
    url = doc.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        return "url"
    sha = doc.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or [c for c in sha if c not in _HEX]:
        return "sha256"
    size = doc.get("size")
    if type(size) is not int or not 0 < size <= MAX_SIZE:
        return "size"
    secs = doc.get("trialSeconds", ota.TRIAL_S)
    if type(secs) is not int or not 5 <= secs <= 3600:
        return "trialSeconds"
    return None


def _rolled_back(job):
    p = ota.pointer()
    if p.get("rolled") and p.get("job") == job["jobId"]:
        me = identity.FW_VERSION
        return "FAILED", {"reason": "rolled back to " + me, "version": me}
    return None


def resume(_agent, job):
    # after a reset: a trial that ended in a rollback is decided here; else run() goes on
    return _rolled_back(job)


async def run(agent, job):
    doc = job["jobDocument"]
    bad = _bad(doc)
    if bad:
        return "REJECTED", {"reason": "job document: missing or invalid " + bad}
    v = doc["version"]
    done = _rolled_back(job)
    if done:
        return done
    if identity.FW_VERSION == v:
        if "trial" in ota.pointer():
            # healthy: a session is up and the cloud accepted our update; only then kept
            await agent.progress(step="healthy", version=v)
            ota.confirm()
        return "SUCCEEDED", {"step": "done", "version": v}
    size = str(doc["size"])
    await agent.progress(step="downloading", version=v, got=str(ota.prepare(doc)), size=size)

    async def report(got):
        await agent.progress(got=str(got))

    ca = store.read_bytes(CA)
    for attempt in range(DOWNLOAD_TRIES):
        try:
            await ota.download(doc, ca, report)
            break
        except (OSError, Fault, ota.OtaError, asyncio.TimeoutError) as e:
            if attempt == DOWNLOAD_TRIES - 1:
                why = "%s: %s" % (type(e).__name__, e)
                return "FAILED", {"reason": "download: " + why, "version": identity.FW_VERSION}
        await asyncio.sleep_ms(backoff_ms(attempt, 2000, 30000))
    why = ota.verify(doc)
    if why:
        store.remove(ota.PART)
        me = identity.FW_VERSION
        return "FAILED", {"reason": "bundle " + why + "; kept " + me, "version": me}
    await agent.progress(step="installing", got=size)
    folder = ota.inactive()
    ota.unpack(folder)
    ota.switch(folder, v, job["jobId"], doc.get("trialSeconds", ota.TRIAL_S))
    import machine

    machine.reset()  # into the new folder, on trial
