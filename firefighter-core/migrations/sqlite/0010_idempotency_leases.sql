-- An idempotency key being answered belongs to an instance for a while
-- (its lease): a retry after the instance died, or after the lease ended,
-- takes the key over and runs the request again — whose change is applied
-- once, under the same key — instead of being refused for a day.
-- (sqlite dialect; keep in step with ../postgres/0010_idempotency_leases.sql.)
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT NULL;
ALTER TABLE idempotency_keys ADD COLUMN lease_until TEXT NULL;
