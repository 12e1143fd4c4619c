# The `config` job operation: {"operation": "config", "settings": {key: value, ...}} applied with
# the settings' own validation (settings.check, docs/contracts.md "Settings keys"). All or
# nothing: a refused key fails the job with each refused key's reason in statusDetails and
# changes no setting; otherwise the settings are applied and persisted (a `settings` event).
import settings


def refusals(current, changes):
    # the refused keys with their reasons, checked as Settings.apply does (a second pass for
    # timings that depend on each other, in any order)
    values = dict(current)
    todo = list(changes)
    refused = {}
    for _ in range(2):
        refused = {}
        for key in todo:
            why = settings.check(key, changes[key], values)
            if why:
                refused[key] = why
            else:
                values[key] = changes[key]
        todo = list(refused)
    return refused


async def run(agent, job):
    changes = job["jobDocument"].get("settings")
    if not isinstance(changes, dict) or not changes:
        return "REJECTED", {"reason": "job document: settings must be a non-empty object"}
    refused = refusals(agent.app.settings.values, changes)
    if refused:
        details = {"reason": "settings refused, none applied"}
        for key in refused:
            details[key[:32]] = refused[key]
        return "FAILED", details
    changed, refused = agent.app.settings.apply(changes)
    if refused:  # cannot happen after the check above; never claim success anyway
        return "FAILED", {"reason": "settings refused"}
    return "SUCCEEDED", {"changed": ",".join(sorted(changed)) or "none"}
