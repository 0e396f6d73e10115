"""Usage ledger queries and the billing export."""
