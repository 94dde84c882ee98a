-- Settled SCEP transactions keep their CSR for scep.transactionRetention, then only what replay
-- detection and polling need (the sender nonce, subject, key hash and outcome): the CSR, most of a row,
-- is emptied by the SCEP housekeeping pass. This partial index holds exactly the rows still to be
-- emptied, oldest settlement first, so a pass reads only those whatever the size of the table.
-- (docs/decisions/0014-scep-transaction-retention.md)
CREATE INDEX scep_transactions_csr_kept ON scep_transactions (updated_at)
  WHERE state <> 'pending' AND octet_length(csr_der) > 0;
