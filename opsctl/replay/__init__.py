"""Putting failed work back: where each failure queue replays to, the SQS mover and the Kinesis replay."""
