"""The capacity report: what the pipeline's resources carried, what they cost, and what to change.

Shared by the scheduled `capacity_report` function and by `opsctl capacity` / `opsctl report` (one
implementation, stdlib + boto3 only)."""
