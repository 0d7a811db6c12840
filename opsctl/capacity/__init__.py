"""Capacity: the DynamoDB, stream and Lambda report bound to a stack, and applying its recommendations."""
