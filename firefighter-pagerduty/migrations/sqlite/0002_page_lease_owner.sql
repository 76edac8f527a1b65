-- The instance sending a page (sqlite dialect; keep in step with
-- ../postgres/0002_page_lease_owner.sql). If it dies (its heartbeat in core's
-- `instances` stops), another instance sends the page without waiting
-- for the lease to end.
ALTER TABLE pd_pages ADD COLUMN lease_owner TEXT NULL;
