-- Indexes for the admin API's audit filters (ListAuditEvents, ExportAuditEvents):
-- each filter column with seq, so a filtered page is an index range scan in chain order.
CREATE INDEX audit_events_actor_seq ON audit_events (actor, seq);
CREATE INDEX audit_events_target_seq ON audit_events (target, seq);
CREATE INDEX audit_events_action_seq ON audit_events (action text_pattern_ops, seq);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
