"""Pure domain model: ids, resources, pool, tenancy, jobs, usage. No I/O, no clock."""
