"""Provisioning: templates, RegisterThing and bulk thing registration tasks (docs/contracts.md
"Provisioning", docs/cloud-decisions.md "Provisioning" PV-1..).

* `engine.py`: the template language (parameters, intrinsic functions, resources), pure.
* `provisioner.py`: applies a resolved template to the registry, certificates and policies in one
  database transaction.
* `store.py` / `tasks.py`: bulk registration tasks and their reports, run in the background by a
  running cloud.
* `api.py`: the control-plane operations, mixed into the `Cloud` facade.
"""
