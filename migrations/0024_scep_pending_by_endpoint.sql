-- Whether an endpoint has any SCEP transaction still pending, asked at most every few seconds per endpoint
-- by each replica: an enrolment decided at once on an endpoint with nothing pending skips the look back for
-- an earlier transaction with its transactionID (src/core/scep/scep-service.ts). Pending rows are few, so the
-- answer costs the same whatever the size of the table.
CREATE INDEX scep_transactions_pending_endpoint ON scep_transactions (endpoint_id) WHERE state = 'pending';
