"""The stream and its consumers: resharding, shard recommendations, iterator age."""
