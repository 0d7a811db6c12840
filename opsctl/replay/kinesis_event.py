"""The event Lambda hands a function for records of one Kinesis shard: what the Kinesis replay sends with
`--via invoke`, and what the sandbox's local runtime sends (it imports this; on-call code never imports the
sandbox). Its shape is Lambda's Kinesis event (docs/aws-limits.md §Lambda)."""

from __future__ import annotations

from typing import NamedTuple

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit (docs/aws-limits.md §Lambda)
RECORD_OVERHEAD_BYTES = 400  # the JSON around one record's data in the event, roughly


class KinesisRecord(NamedTuple):
    sequence_number: str
    partition_key: str
    data_b64: str
    arrival: float  # epoch seconds

    @property
    def seq(self) -> int:
        return int(self.sequence_number)


def kinesis_event(records: list[KinesisRecord], *, shard_id: str, source_arn: str, role: str, region: str) -> dict:
    """The event Lambda hands a function for `records` of one shard."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": rec.partition_key,
                    "sequenceNumber": rec.sequence_number,
                    "data": rec.data_b64,
                    "approximateArrivalTimestamp": rec.arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{rec.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": region,
                "eventSourceARN": source_arn,
            }
            for rec in records
        ]
    }
