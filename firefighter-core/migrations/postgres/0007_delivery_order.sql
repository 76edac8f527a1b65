-- Deliveries run one at a time per incident and handler, oldest event first:
-- a claim looks for an earlier pending delivery of the same handler.
-- (postgres dialect; the same on both databases.)
CREATE INDEX outbox_deliveries_pending_by_handler ON outbox_deliveries (handler, event_id) WHERE status = 'pending';
