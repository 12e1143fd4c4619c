"""Reference model of the cloud: registry, certificates, policies, shadows, jobs, rules, 1-Click."""
